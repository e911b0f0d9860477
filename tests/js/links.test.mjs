import assert from "node:assert/strict";
import test from "node:test";

import { linkPieces, safeHref } from "../../server/static/js/links.js";

test("http and https URLs become links, the sentence's punctuation stays text", () => {
  assert.deepEqual(linkPieces("See https://example.com/a?b=1, or http://x.test."), [
    { text: "See ", href: null },
    { text: "https://example.com/a?b=1", href: "https://example.com/a?b=1" },
    { text: ", or ", href: null },
    { text: "http://x.test", href: "http://x.test/" },
    { text: ".", href: null },
  ]);
  assert.deepEqual(linkPieces("(https://en.wikipedia.org/wiki/Foo_(bar))")[1], {
    text: "https://en.wikipedia.org/wiki/Foo_(bar)",
    href: "https://en.wikipedia.org/wiki/Foo_(bar)",
  });
});

test("nothing but http and https", () => {
  assert.deepEqual(linkPieces("javascript:alert(1)"), [{ text: "javascript:alert(1)", href: null }]);
  assert.deepEqual(linkPieces("data:text/html,<b>x</b> ftp://x.test"), [{ text: "data:text/html,<b>x</b> ftp://x.test", href: null }]);
  assert.equal(safeHref("javascript:alert(1)"), null);
  assert.equal(safeHref("https://"), null);
  assert.deepEqual(linkPieces("no links here"), [{ text: "no links here", href: null }]);
});
