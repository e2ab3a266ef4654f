"""The e-mail channel (F1–F6): support addresses, mail in (SMTP gateway, providers' inbound
webhooks, connected IMAP mailboxes), threading into conversations, and the team's replies out
by e-mail. It sits above conversations, as the sockets do: a transport of the same inbox."""
