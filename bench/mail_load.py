"""The inbound mail benchmark's load generator (bench/mail_ingest.py drives it): customers'
mail sent over SMTP to the product's gateway, and an operator's console socket that waits
for each message's inbox frame. Argument: JSON {"smtp_port", "web_port", "address",
"cookie", "session"}. Prints `READY`, then answers one JSON line per command read
from stdin:

- {"do": "ingest", "n", "connections", "start", "tag"}: messages `start` … `start+n-1`,
  built before the clock starts, sent as fast as `connections` concurrent smtplib
  connections take them (each connection one message after another). Reports the
  `time.time()` of the first message's send and of the first and last 250, refusals, and the
  accept latency (send → 250) percentiles.
- {"do": "latency", "rate", "seconds", "connections", "start", "tag", "drain"}: the operator
  socket connects (welcome, inbox snapshot), then messages leave at `rate` a second, open
  loop (message k planned at t0 + k/rate and handed to whichever connection is free; a
  backlog shows as accept latency from the planned time), and for each, the time from its
  SMTP 250 to the arrival of the first `conversation` frame whose preview carries its
  marker. A message whose frame has not come `drain` seconds after the last 250 is lost.

The messages are what customers' clients send, a few KB each, distinct Message-IDs: plain
text with a signature; multipart/alternative (text and HTML); a text with a small PNG or
PDF attached; ISO-8859-1 with an RFC 2047 subject and sender name; and two in ten a reply
(In-Reply-To and References to the same customer's earlier message, its text quoted below,
which threads it into that conversation). Each carries the marker `MB<number>` at the start
of its text (the inbox preview) and in its subject. The customers (`senders_for`: four
messages each) are at five domains; message i is customer i mod their number's, in an
address space of the command's `tag` so that each phase has customers of its own.
"""

from __future__ import annotations

import json
import queue
import re
import smtplib
import struct
import sys
import threading
import time
import zlib
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, localtime
from typing import Any

from bench.common import percentile

MARKER = re.compile(r"MB(\d{7})")
DOMAINS = ["maple-coffee.example", "northwind.example", "contoso.example", "fabrikam.example",
           "tailspin.example"]
MAILERS = ["Apple Mail (2.3774)", "Microsoft Outlook 16.0", "Thunderbird 128.4"]
FIRST_NAMES = ["Anna", "Bruno", "Chloé", "Dmitri", "Emeka", "Fatima", "Gustav", "Hana",
               "Ivan", "Jüri", "Keiko", "Luis"]
PARAGRAPHS = [
    "I ordered the blue enamel kettle (order 48213) on Monday and the tracking page still "
    "says the parcel is waiting at the depot. Could you check whether it has been sent, and "
    "if not, whether it can still arrive before the weekend?",
    "I also noticed that the invoice lists the delivery to my old address in Leeds, although "
    "I changed it in my account last month. Please make sure the parcel goes to the new one: "
    "14 Harbour Street, Whitby.",
    "If the kettle is out of stock, I would rather take the red one than wait several weeks; "
    "the price is the same as far as I can see. Otherwise a refund to the card is fine too.",
    "Thank you for your help, and sorry for the long mail: the chat on your website was "
    "closed when I tried it yesterday evening.",
]


def png(width: int = 40, height: int = 30) -> bytes:
    """A real PNG (a gradient), about 1 KB: what a screenshot's crop weighs, small."""
    rows = b"".join(b"\x00" + bytes((x * 6 + y * 3) % 256 for x in range(width) for _ in range(3))
                    for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


def pdf() -> bytes:
    """A one-page PDF with a line of text, about 600 bytes."""
    text = b"BT /F1 12 Tf 72 720 Td (Order 48213 - delivery note) Tj ET"
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length %d >>\nstream\n%s\nendstream" % (len(text), text),
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = b"%PDF-1.4\n", []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (n, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    return out + b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)


PNG_BYTES, PDF_BYTES = png(), pdf()


def senders_for(n: int) -> int:
    """Four messages a customer: none opens more new conversations than the product takes
    from one sender an hour (5, MAIL_NEW_CONVERSATIONS_PER_SENDER_HOUR) before the next land
    in Suspended, a path of their own that real customers seldom take."""
    return max(1, -(-n // 4))


class Mail:
    """Builds message `i` for the support `address`."""

    def __init__(self, address: str, senders: int, tag: str) -> None:
        self.address, self.senders, self.tag = address, senders, tag

    def message_id(self, i: int) -> str:
        return f"<mb.{self.tag}.{i}.{zlib.crc32(str(i).encode()):08x}@mail.{self.domain(i)}>"

    def domain(self, i: int) -> str:
        return DOMAINS[(i % self.senders) % len(DOMAINS)]

    def sender(self, i: int) -> tuple[str, str]:
        n = i % self.senders
        name = f"{FIRST_NAMES[n % len(FIRST_NAMES)]} Customer{n}"
        return name, f"customer{n}.{self.tag}@{self.domain(i)}"

    def subject(self, i: int) -> str:
        return f"Order 48213 has not arrived yet (MB{i:07d})"

    def text(self, i: int) -> str:
        name, _ = self.sender(i)
        paragraphs = PARAGRAPHS[: 2 + i % 3]
        return (f"Hello, MB{i:07d} here.\n\n" + "\n\n".join(paragraphs)
                + f"\n\nBest regards,\n{name}\n\n-- \n{name}\nSent from my phone\n")

    def build(self, i: int) -> bytes:
        kind = i % 10
        name, email = self.sender(i)
        msg = EmailMessage()
        earlier = i - self.senders
        reply = kind in (3, 9) and earlier >= 0
        subject = "Re: " + self.subject(earlier) if reply else self.subject(i)
        host = f"mail.{self.domain(i)}"
        msg["Received"] = (f"from {host} ({host} [192.0.2.{i % 250 + 1}]) "
                           f"by mx.inbound.example with ESMTPS id {i:x}; "
                           f"{format_datetime(localtime())}")
        msg["Authentication-Results"] = (f"mx.inbound.example; spf=pass smtp.mailfrom={email}; "
                                         f"dkim=pass header.d={self.domain(i)}; dmarc=pass")
        msg["DKIM-Signature"] = ("v=1; a=rsa-sha256; c=relaxed/relaxed; d=" + self.domain(i)
                                 + "; s=mail; h=from:to:subject:date:message-id; bh="
                                 # b= in pieces: a folded header, as signers send it
                                 + "A" * 44 + "; b=" + " ".join(["B" * 68] * 5))
        msg["Message-ID"] = self.message_id(i)
        msg["Date"] = format_datetime(localtime())
        msg["Subject"] = subject
        msg["To"] = self.address
        msg["MIME-Version"] = "1.0"
        msg["X-Mailer"] = MAILERS[i % len(MAILERS)]
        body = self.text(i)
        if kind == 8:
            # ISO-8859-1 mail from an older client: encoded-word name and subject.
            msg["From"] = Address(f"{name} Müller", addr_spec=email)
            del msg["Subject"]
            msg["Subject"] = subject + " – Lieferung verspätet"
            msg.set_content(body + "\nMit freundlichen Grüßen\n", charset="iso-8859-1",
                            cte="quoted-printable")
            return msg.as_bytes(policy=SMTP_POLICY)
        msg["From"] = Address(name, addr_spec=email)
        if reply:
            msg["In-Reply-To"] = self.message_id(earlier)
            msg["References"] = self.message_id(earlier)
            quoted = "\n".join("> " + line for line in self.text(earlier).splitlines())
            body = (f"Hello, MB{i:07d} again: any news? It is still not here.\n\n{name}\n\n"
                    f"On Mon, 1 Dec 2026 at 09:12, {name} <{email}> wrote:\n{quoted}\n")
        msg.set_content(body)
        if kind in (4, 5):
            html = "".join(f"<p>{p}</p>" for p in body.split("\n\n"))
            msg.add_alternative(
                f"<html><head><style>p{{font-family:Arial}}</style></head><body>{html}"
                f"<div class=\"gmail_signature\">{name}</div></body></html>", subtype="html")
        elif kind == 6:
            msg.add_attachment(PNG_BYTES, maintype="image", subtype="png",
                               filename="screenshot.png")
        elif kind == 7:
            msg.add_attachment(PDF_BYTES, maintype="application", subtype="pdf",
                               filename="delivery-note.pdf")
        return msg.as_bytes(policy=SMTP_POLICY)


class Senders:
    """`connections` smtplib connections in threads, each sending what the queue hands it;
    per message the time of its 250 (or its refusal)."""

    def __init__(self, port: int, mail: Mail, connections: int) -> None:
        self.port, self.mail = port, mail
        self.todo: queue.Queue[tuple[int, bytes, float] | None] = queue.Queue()
        self.accepted: dict[int, float] = {}
        self.sent_at: dict[int, float] = {}
        self.refused: list[str] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True)
                        for _ in range(connections)]
        # Every connection open (greeting read) before the first message: the clock runs
        # from there.
        self.connected = threading.Barrier(connections + 1)
        for thread in self.threads:
            thread.start()
        self.connected.wait(timeout=60)

    def _run(self) -> None:
        smtp = smtplib.SMTP("127.0.0.1", self.port, timeout=60)
        smtp.ehlo()
        self.connected.wait(timeout=60)
        try:
            while (item := self.todo.get()) is not None:
                i, raw, planned = item
                _, sender = self.mail.sender(i)
                start = time.time()
                try:
                    smtp.sendmail(sender, [self.mail.address], raw)
                except (smtplib.SMTPException, OSError) as error:
                    with self.lock:
                        self.refused.append(f"{type(error).__name__}: {error}"[:200])
                    # A refusal (4xx/5xx) leaves the connection usable; a dropped one not.
                    if (isinstance(error, smtplib.SMTPServerDisconnected)
                            or not isinstance(error, smtplib.SMTPException)):
                        smtp = smtplib.SMTP("127.0.0.1", self.port, timeout=60)
                    continue
                now = time.time()
                with self.lock:
                    self.accepted[i] = now
                    self.sent_at[i] = planned or start
        finally:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass

    def close(self) -> None:
        for _ in self.threads:
            self.todo.put(None)
        for thread in self.threads:
            thread.join(timeout=120)


def ms_stats(values: list[float]) -> dict[str, float]:
    return {"p50_ms": percentile(values, 50), "p99_ms": percentile(values, 99),
            "max_ms": max(values, default=float("nan"))}


def ingest(args: dict[str, Any], command: dict[str, Any]) -> dict[str, Any]:
    start, n = int(command.get("start", 0)), int(command["n"])
    mail = Mail(args["address"], senders_for(n), command["tag"])
    raws = [(i, mail.build(i)) for i in range(start, start + n)]
    senders = Senders(args["smtp_port"], mail, int(command.get("connections", 8)))
    began = time.time()
    for i, raw in raws:
        senders.todo.put((i, raw, 0.0))
    senders.close()
    accepted = senders.accepted
    return {"began": began, "first_accept": min(accepted.values(), default=None),
            "last_accept": max(accepted.values(), default=None), "accepted": len(accepted),
            "refused": len(senders.refused), "refusals": senders.refused[:3],
            "bytes": sum(len(raw) for _, raw in raws) / max(n, 1),
            "accept": ms_stats([(accepted[i] - senders.sent_at[i]) * 1000 for i in accepted])}


class Operator:
    """The operator's console socket: the first arrival of each marker in a `conversation`
    frame's preview."""

    def __init__(self, args: dict[str, Any]) -> None:
        from websockets.sync.client import connect
        from websockets.typing import Origin

        base = f"127.0.0.1:{args['web_port']}"
        self.conn = connect(f"ws://{base}/ws/operator", origin=Origin(f"http://{base}"),
                            additional_headers={"Cookie": f"{args['cookie']}={args['session']}"},
                            legacy=True)  # type: ignore[call-overload]
        self.arrived: dict[int, float] = {}
        self.frames = 0
        first = json.loads(self.conn.recv(timeout=30))
        if first.get("type") != "welcome":
            raise RuntimeError(f"operator socket: {first}")
        while json.loads(self.conn.recv(timeout=30)).get("type") != "inbox":
            pass
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            for text in self.conn:
                now = time.time()
                frame = json.loads(text)
                if frame.get("type") != "conversation":
                    continue
                self.frames += 1
                match = MARKER.search(frame["conversation"].get("preview") or "")
                if match:
                    self.arrived.setdefault(int(match.group(1)), now)
        except ConnectionClosed:
            return

    def close(self) -> None:
        self.conn.close()
        self.thread.join(timeout=10)


def latency(args: dict[str, Any], command: dict[str, Any]) -> dict[str, Any]:
    rate, seconds = float(command["rate"]), float(command["seconds"])
    start, n = int(command.get("start", 0)), round(rate * seconds)
    mail = Mail(args["address"], senders_for(n), command["tag"])
    raws = [(i, mail.build(i)) for i in range(start, start + n)]
    operator = Operator(args)
    senders = Senders(args["smtp_port"], mail, int(command.get("connections", 4)))
    try:
        t0 = time.time()
        for k, (i, raw) in enumerate(raws):
            planned = t0 + k / rate
            delay = planned - time.time()
            if delay > 0:
                time.sleep(delay)
            senders.todo.put((i, raw, planned))
        senders.close()
        last = max(senders.accepted.values(), default=time.time())
        deadline = last + float(command.get("drain", 15))
        while time.time() < deadline and any(i not in operator.arrived for i in senders.accepted):
            time.sleep(0.05)
    finally:
        operator.close()
    accepted = senders.accepted
    waits = [(operator.arrived[i] - accepted[i]) * 1000 for i in accepted if i in operator.arrived]
    ended = max(operator.arrived.values(), default=t0)
    return {"sent": n, "accepted": len(accepted), "refused": len(senders.refused),
            "times": {i: [accepted[i], operator.arrived.get(i)] for i in accepted},
            "refusals": senders.refused[:3], "delivered": len(waits),
            "lost": len(accepted) - len(waits), "frames": operator.frames,
            "achieved": len(waits) / max(ended - t0, 1e-9),
            "inbox": ms_stats(waits),
            "accept": ms_stats([(accepted[i] - senders.sent_at[i]) * 1000 for i in accepted])}


def main() -> None:
    args = json.loads(sys.argv[1])
    print("READY", flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        out = ingest(args, command) if command["do"] == "ingest" else latency(args, command)
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
