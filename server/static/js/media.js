// What customers send besides text, drawn in a message bubble: photos and
// stickers (a thumbnail that opens full size), voice notes and audio (a
// player with the length), video, documents (name, size, type, download),
// locations (a map link), contact cards, the message a reply quotes, the
// customer's reaction. Files come through short-lived signed links
// (GET /api/media/{id}/link); the pure parts (labels, lengths, sizes) are
// tested under Node (tests/js/media.test.mjs).

import { h } from "./dom.js";
import { t } from "./i18n.js";
import { live } from "./state.js";

/** @typedef {import('./protocol').MessageView} MessageView */
/** @typedef {import('./protocol').MediaView} MediaView */
/** @typedef {import('./protocol').ConversationSummary} ConversationSummary */

// --------------------------------------------------------------------------- pure

/** "0:14", "1:05:09". @param {number} ms */
export function duration(ms) {
  const total = Math.max(0, Math.round(ms / 1000));
  const s = String(total % 60).padStart(2, "0");
  const m = Math.floor(total / 60) % 60;
  const hours = Math.floor(total / 3600);
  return hours ? `${hours}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/** "820 KB", "4.2 MB", in the agent's language's digits. @param {number} bytes */
export function size(bytes) {
  const nf = (/** @type {number} */ n, /** @type {number} */ digits) =>
    new Intl.NumberFormat(undefined, { maximumFractionDigits: digits }).format(n);
  if (bytes >= 1024 * 1024) return `${nf(bytes / (1024 * 1024), 1)} MB`;
  if (bytes >= 1024) return `${nf(bytes / 1024, 0)} KB`;
  return `${nf(bytes, 0)} B`;
}

/**
 * What a list row says for a last message that is not text ("📷 Photo",
 * "🎤 Voice message (0:14)"), or null for text (the preview as sent).
 * @param {string | null | undefined} kind @param {number | null | undefined} ms
 */
export function previewLabel(kind, ms) {
  if (!kind) return null;
  const known = ["image", "voice", "audio", "video", "document", "sticker", "location", "contacts"];
  if (!known.includes(kind)) return null;
  if ((kind === "voice" || kind === "audio") && ms != null) return t(`media.preview.${kind}.timed`, { duration: duration(ms) });
  return t(`media.preview.${kind}`);
}

/** The row's preview text. @param {ConversationSummary} s */
export function previewText(s) {
  return previewLabel(s.preview_kind, s.preview_duration_ms) ?? s.preview;
}

/**
 * The text a bubble shows: a file's caption rather than "[image] caption"
 * (the media draws itself), nothing for a location or a contact card.
 * @param {MessageView} m
 */
export function shownText(m) {
  if (m.media || m.location || (m.contacts && m.contacts.length)) return m.meta?.caption ?? "";
  return m.text;
}

/** A short type name for a document: "PDF", "DOCX", "ZIP". @param {MediaView} media */
export function typeName(media) {
  const fromName = /\.([A-Za-z0-9]{1,5})$/.exec(media.filename)?.[1];
  if (fromName) return fromName.toUpperCase();
  const sub = media.mime_type.split("/")[1] ?? "";
  return sub ? sub.split(/[;+.-]/)[0].toUpperCase() : t("media.file");
}

// --------------------------------------------------------------------------- signed links

const LINK_MARGIN_MS = 30_000;
/** @type {Map<string, { url: string, expires_at: number }>} */
const links = new Map();

/**
 * A signed link to a message's file (or thumbnail), fresh for at least 30 s.
 * @param {string} messageId @param {"file" | "thumbnail"} variant
 * @returns {Promise<string>}
 */
export async function linkTo(messageId, variant) {
  const key = `${messageId}:${variant}`;
  const known = links.get(key);
  if (known && known.expires_at - LINK_MARGIN_MS > Date.now()) return known.url;
  const r = await fetch(`/api/media/${encodeURIComponent(messageId)}/link?variant=${variant}`, {
    headers: { authorization: `Bearer ${live().token}` },
  });
  if (!r.ok) throw new Error(`HTTP ${r.status}`);
  const made = /** @type {{ url: string, expires_at: number }} */ (await r.json());
  links.set(key, made);
  return made.url;
}

/**
 * Set an attribute to a signed link once it is known.
 * @param {HTMLElement} node @param {string} attr @param {string} messageId @param {"file" | "thumbnail"} variant
 */
function fill(node, attr, messageId, variant) {
  linkTo(messageId, variant).then(
    (url) => node.setAttribute(attr, url),
    () => node.setAttribute("data-link-error", "1"),
  );
}

// --------------------------------------------------------------------------- drawing

/**
 * What goes above the text in a bubble: the quoted message, the file, the
 * location, the contact cards.
 * @param {MessageView} m
 * @returns {Array<Node | null>}
 */
export function mediaParts(m) {
  return [
    m.reply_to ? quoteNode(m.reply_to) : null,
    m.media ? mediaNode(m, m.media) : null,
    m.location ? locationNode(m.location) : null,
    ...(m.contacts ?? []).map(contactNode),
    m.kind === "unsupported" ? h("div", { class: "media-note", text: t("media.unsupported") }) : null,
  ];
}

/** The customer's reaction on the message, or null. @param {MessageView} m */
export function reactionNode(m) {
  if (!m.reaction) return null;
  return h("span", { class: "reaction", role: "img", "aria-label": t("media.reaction", { emoji: m.reaction }), title: t("media.reaction", { emoji: m.reaction }), text: m.reaction });
}

/** @param {import('./protocol').QuoteView} q */
function quoteNode(q) {
  const button = h("button", { type: "button", class: "quote", "data-quote": q.id, title: t("media.quote.go") }, [
    h("span", { class: "quote-who", text: q.direction === "out" ? t("media.quote.you") : t("media.quote.customer") }),
    h("span", { class: "quote-text", text: q.text }),
  ]);
  button.addEventListener("click", () => void goTo(q.id));
  return button;
}

/**
 * Scroll to a message of the open thread (drawn or not: the thread is
 * windowed), loading older pages until it is there.
 * @param {string} messageId
 */
async function goTo(messageId) {
  const { revealMessage } = await import("./conversation.js");
  const target = await revealMessage(messageId);
  if (!target) return;
  target.classList.add("flash");
  setTimeout(() => target.classList.remove("flash"), 1200);
}

/** @param {MessageView} m @param {MediaView} media */
function mediaNode(m, media) {
  if (media.state === "loading") {
    return h("div", { class: "media-state loading", role: "status", text: t(`media.loading.${media.kind}`) });
  }
  if (media.state === "failed") {
    return h("div", { class: "media-state failed", role: "note", text: t("media.failed", { reason: media.error }) });
  }
  switch (media.kind) {
    case "image":
    case "sticker":
      return imageNode(m, media);
    case "audio":
      return audioNode(m, media);
    case "video": {
      const video = h("video", { class: "media-video", controls: true, preload: "metadata", "aria-label": t("media.video") });
      fill(video, "src", m.id, "file");
      return video;
    }
    default:
      return documentNode(m, media);
  }
}

/** @param {MessageView} m @param {MediaView} media */
function imageNode(m, media) {
  const label = media.kind === "sticker" ? t("media.sticker") : t("media.open");
  const img = h("img", {
    class: `media-thumb-img${media.kind === "sticker" ? " sticker" : ""}`,
    alt: media.kind === "sticker" ? t("media.sticker") : t("media.photo"),
    width: media.width && media.height ? Math.min(media.width, 240) : null,
    height: media.width && media.height ? Math.round((Math.min(media.width, 240) / media.width) * media.height) : null,
    decoding: "async",
  });
  fill(img, "src", m.id, media.thumbnail ? "thumbnail" : "file");
  const button = h("button", { type: "button", class: "media-thumb", "aria-label": label, title: label }, [img]);
  button.addEventListener("click", () => void openViewer(m.id, img.alt));
  return button;
}

/** @param {MessageView} m @param {MediaView} media */
function audioNode(m, media) {
  const label = media.voice ? t("media.voice") : t("media.audio");
  const audio = h("audio", { class: "media-audio", controls: true, preload: "metadata", "aria-label": label });
  const length = h("span", { class: "media-duration", text: media.duration_ms != null ? duration(media.duration_ms) : "" });
  audio.addEventListener("loadedmetadata", () => {
    if (Number.isFinite(audio.duration) && media.duration_ms == null) length.textContent = duration(audio.duration * 1000);
  });
  fill(audio, "src", m.id, "file");
  return h("div", { class: "media-audio-box" }, [h("span", { class: "media-icon", "aria-hidden": "true", text: media.voice ? "🎤" : "🎵" }), audio, length]);
}

/** @param {MessageView} m @param {MediaView} media */
function documentNode(m, media) {
  const name = media.filename || t("media.document");
  const details = [typeName(media), media.size != null ? size(media.size) : ""].filter(Boolean).join(" · ");
  const button = h("button", { type: "button", class: "media-document", title: t("media.download", { name }) }, [
    h("span", { class: "media-icon", "aria-hidden": "true", text: "📄" }),
    h("span", { class: "media-doc-text" }, [h("span", { class: "media-doc-name", text: name }), h("span", { class: "media-doc-details", text: details })]),
  ]);
  button.addEventListener("click", async () => {
    const url = await linkTo(m.id, "file");
    const a = h("a", { href: url, download: name });
    document.body.append(a);
    a.click();
    a.remove();
  });
  return button;
}

/** @param {import('./protocol').LocationView} loc */
function locationNode(loc) {
  const place = [loc.name, loc.address].filter(Boolean).join(", ") || `${loc.latitude.toFixed(5)}, ${loc.longitude.toFixed(5)}`;
  return h("div", { class: "media-location" }, [
    h("span", { class: "media-icon", "aria-hidden": "true", text: "📍" }),
    h("span", { class: "media-place", text: place }),
    h("a", { href: loc.map_url, target: "_blank", rel: "noopener noreferrer", class: "media-map", text: t("media.map") }),
  ]);
}

/** @param {import('./protocol').SharedContactView} c */
function contactNode(c) {
  return h("div", { class: "media-contact" }, [
    h("span", { class: "media-icon", "aria-hidden": "true", text: "👤" }),
    h("span", { class: "media-contact-text" }, [h("strong", { text: c.name || t("media.contact") }), ...c.phones.map((p) => h("span", { class: "media-phone", text: p }))]),
  ]);
}

/**
 * The full-size photo over the page: a modal dialog (Esc or a click closes
 * it; the focus goes back to the thumbnail).
 * @param {string} messageId @param {string} alt
 */
async function openViewer(messageId, alt) {
  let dialog = /** @type {HTMLDialogElement | null} */ (document.getElementById("media-viewer"));
  if (!dialog) {
    dialog = h("dialog", { id: "media-viewer", class: "media-viewer", "aria-label": t("media.viewer") });
    const d = dialog;
    d.addEventListener("click", () => d.close());
    document.body.append(d);
  }
  const img = h("img", { class: "media-full", alt });
  const close = h("button", { type: "button", class: "ghost media-close", text: t("media.close") });
  dialog.replaceChildren(img, close);
  dialog.showModal();
  close.focus();
  img.src = await linkTo(messageId, "file");
}
