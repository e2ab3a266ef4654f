// The attachments in the widget's thread (N8): each opens through a signed link, asked for
// with the visitor token in a header and good for one file for a few minutes; the token
// never goes in a URL. Images are shown inline, other files are downloads.

// `widget`: the widget key; `headers(extra)`: the widget API's headers (the token, and the
// site user's proof); `showError(text)`: tells the visitor. Returns `files(attachments)`,
// the element showing a message's attachments, and `reloadImages()`, for a resume.
export function attachmentFiles(widget, headers, showError) {
  // The ids asked for in one turn of the event loop go in one request (a replayed history
  // shows all its images).
  const LINKS_PER_REQUEST = 100;
  let linkWaiters = new Map(); // attachment id → [{resolve, reject}]
  function linkFor(id) {
    return new Promise((resolve, reject) => {
      if (!linkWaiters.size) setTimeout(askForLinks, 0);
      if (!linkWaiters.has(id)) linkWaiters.set(id, []);
      linkWaiters.get(id).push({ resolve, reject });
    });
  }
  async function askForLinks() {
    const waiting = linkWaiters;
    linkWaiters = new Map();
    const ids = [...waiting.keys()];
    for (let i = 0; i < ids.length; i += LINKS_PER_REQUEST) {
      const batch = ids.slice(i, i + LINKS_PER_REQUEST);
      const urls = new Map();
      try {
        const response = await fetch(`/widget/api/${encodeURIComponent(widget)}/attachments/links`, {
          method: "POST", body: JSON.stringify({ attachments: batch }),
          headers: headers({ "Content-Type": "application/json" }),
        });
        if (response.ok) for (const link of (await response.json()).links) urls.set(link.id, link.url);
      } catch { /* offline: asked again on resume (reloadImages) or on the next click */ }
      for (const id of batch) {
        for (const waiter of waiting.get(id)) {
          if (urls.has(id)) waiter.resolve(urls.get(id)); else waiter.reject(new Error("no link"));
        }
      }
    }
  }

  // One element per image, moved into each render: a new one would start empty and make the
  // thread jump while it decodes again. Once loaded it stays shown whatever its link's age.
  const images = new Map();
  function loadImage(img, attachment) {
    img.dataset.failed = "";
    linkFor(attachment.id).then((url) => { img.src = url; })
      .catch(() => { img.dataset.failed = "1"; img.alt = `${attachment.name} (unavailable)`; });
  }
  function imageFor(attachment) {
    if (!images.has(attachment.id)) {
      const img = document.createElement("img");
      img.alt = attachment.name;
      // A link that expired before the image was fetched (or refetched): one fresh link at
      // once, then again on the next resume.
      let retried = false;
      img.addEventListener("load", () => { retried = false; img.alt = attachment.name; });
      img.addEventListener("error", () => {
        if (retried) { img.dataset.failed = "1"; img.alt = `${attachment.name} (unavailable)`; return; }
        retried = true;
        loadImage(img, attachment);
      });
      img.p2sAttachment = attachment;
      loadImage(img, attachment);
      images.set(attachment.id, img);
    }
    return images.get(attachment.id);
  }
  // On resume (every welcome): images that could not load get fresh links.
  function reloadImages() {
    for (const img of images.values()) if (img.dataset.failed) loadImage(img, img.p2sAttachment);
  }

  function files(attachments) {
    const box = document.createElement("div");
    box.className = "files";
    for (const attachment of attachments) {
      if (!attachment.widget_url) continue;
      if (attachment.is_image) {
        box.append(imageFor(attachment));
      } else {
        const a = document.createElement("a");
        a.href = "#";
        a.textContent = `Download ${attachment.name}`;
        a.addEventListener("click", async (event) => {
          event.preventDefault();
          // A fresh link at each click: a link kept from earlier may have expired.
          try {
            const link = document.createElement("a");
            link.href = await linkFor(attachment.id);
            link.download = attachment.name;
            link.click();
          } catch {
            showError("The file could not be opened. Please try again.");
          }
        });
        box.append(a);
      }
    }
    return box;
  }

  return { files, reloadImages };
}
