// B5: the widget's settings page shows the widget as it will look, as the settings change.
// The preview frame is the real chat frame in preview mode (no socket); this page sends it
// what is being edited, and draws the launcher where it will sit on the page.
const form = document.getElementById("look-form");
const frame = document.getElementById("preview-frame");
const site = document.getElementById("preview-site");
const launcher = document.getElementById("preview-launcher");
const launcherLogo = document.getElementById("preview-launcher-logo");
const note = document.getElementById("contrast-note");
const field = (name) => form.elements.namedItem(name);
const objectUrls = {};

// WCAG 2 contrast, as widgets/appearance.py computes it on save.
function luminance(hex) {
  const channel = (i) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
}
function contrast(a, b) {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

function fileUrl(name, existing) {
  const input = field(name);
  const file = input && input.files && input.files[0];
  if (!file) return existing;
  if (objectUrls[name]) URL.revokeObjectURL(objectUrls[name]);
  objectUrls[name] = URL.createObjectURL(file);
  return objectUrls[name];
}

function checked(name) {
  const chosen = form.querySelector(`input[name="${name}"]:checked`);
  return chosen ? chosen.value : "";
}

function update() {
  const brand = /^#[0-9a-f]{6}$/i.test(field("brand_color").value) ? field("brand_color").value.toLowerCase() : "#4f46e5";
  const onWhite = contrast(brand, "#ffffff");
  const onBlack = contrast(brand, "#000000");
  const onBrand = onWhite >= onBlack ? "#ffffff" : "#000000";
  note.textContent = `Text on this colour is ${onBrand === "#ffffff" ? "white" : "black"}: contrast ${Math.max(onWhite, onBlack).toFixed(1)}:1 (4.5:1 needed).`;
  const removeBrand = field("remove_brand_logo") && field("remove_brand_logo").checked;
  const brandLogo = removeBrand ? "" : fileUrl("brand_logo_file", frame.dataset.brandLogo || "");
  const look = {
    brand, on_brand: onBrand, appearance: checked("appearance") || "light",
    title: field("title").value, brand_logo: brandLogo,
    search_enabled: Boolean(field("search_enabled") && field("search_enabled").checked),
  };
  if (frame.contentWindow) frame.contentWindow.postMessage({ p2s: "preview", look }, location.origin);
  // The launcher and the open widget on the page, scaled down: the preview box is ~half size.
  const side = checked("alignment") === "left" ? "left" : "right";
  const dx = Math.min(Math.max(parseInt(field("spacing_side").value, 10) || 0, 0), 200);
  const dy = Math.min(Math.max(parseInt(field("spacing_bottom").value, 10) || 0, 0), 200);
  site.dataset.side = side;
  for (const el of [launcher, frame]) {
    el.style.left = side === "left" ? `${dx / 2}px` : "";
    el.style.right = side === "right" ? `${dx / 2}px` : "";
  }
  launcher.style.bottom = `${dy / 2}px`;
  frame.style.bottom = `${dy / 2 + 36}px`;
  launcher.style.background = brand;
  launcher.style.color = onBrand;
  const removeLauncher = field("remove_launcher_logo") && field("remove_launcher_logo").checked;
  const logo = removeLauncher ? "" : fileUrl("launcher_logo_file", launcherLogo.dataset.saved || "");
  launcherLogo.hidden = !logo;
  if (logo) launcherLogo.src = logo;
  launcher.querySelector("svg").hidden = Boolean(logo);
}

launcherLogo.dataset.saved = launcherLogo.hidden ? "" : launcherLogo.getAttribute("src");
frame.addEventListener("load", () => {
  try {
    const logo = frame.contentDocument.getElementById("brand-logo");
    frame.dataset.brandLogo = logo && !logo.hidden ? logo.getAttribute("src") : "";
  } catch { /* same origin: always readable */ }
  update();
});
window.addEventListener("message", (event) => {
  // Only the preview frame itself (N8): our origin and its window.
  if (event.origin !== location.origin || event.source !== frame.contentWindow) return;
  if (event.data && event.data.p2s === "preview-ready") update();
});
form.addEventListener("input", update);
form.addEventListener("change", update);
update();
