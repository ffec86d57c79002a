import { strToU8, zipSync } from "fflate";

/** A short book with three chapters under three heading styles. */
export const THREE_CHAPTERS = `The Fox Book

Chapter 1: The Den

A fox lived in a den. It was warm.

CHAPTER II. The River

The fox swam across the river.

Chapter Three

Then the fox went home.
`;

/**
 * A tiny EPUB built here: a cover page with only an image, three chapters in
 * spine order (listed in the manifest in another order), a non-linear note,
 * and a table of contents as an EPUB 3 nav document or, with `ncx`, an EPUB 2 NCX.
 */
export function tinyEpub(options: { ncx?: boolean } = {}): Uint8Array {
  const page = (body: string, title = "page") =>
    `<?xml version="1.0" encoding="utf-8"?>\n<html xmlns="http://www.w3.org/1999/xhtml"><head><title>${title}</title><style>p { color: red }</style></head><body>${body}</body></html>`;
  const nav = `<?xml version="1.0" encoding="utf-8"?>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops"><head><title>Contents</title></head><body>
<nav epub:type="toc" id="toc"><h1>Contents</h1><ol>
  <li><a href="text/one.xhtml">The Beginning</a></li>
  <li><a href="text/two%20part.xhtml#start">The Middle &amp; More</a></li>
  <li><a href="text/two%20part.xhtml#later">Not this one</a></li>
</ol></nav></body></html>`;
  const ncx = `<?xml version="1.0" encoding="UTF-8"?>
<ncx xmlns="http://www.daisy.org/z3986/2005/ncx/" version="2005-1"><navMap>
  <navPoint id="n1" playOrder="1"><navLabel><text>From the NCX</text></navLabel><content src="text/one.xhtml"/></navPoint>
  <navPoint id="n2" playOrder="2"><navLabel><text>The Middle &amp; More (NCX)</text></navLabel><content src="text/two%20part.xhtml"/>
    <navPoint id="n3" playOrder="3"><navLabel><text>Ending (NCX)</text></navLabel><content src="text/three.xhtml"/></navPoint>
  </navPoint>
</navMap></ncx>`;
  const opf = `<?xml version="1.0" encoding="UTF-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="${options.ncx ? "2.0" : "3.0"}" unique-identifier="id">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>A Tiny Tale</dc:title><dc:identifier id="id">tiny</dc:identifier></metadata>
  <manifest>
    <item id="c3" href="text/three.xhtml" media-type="application/xhtml+xml"/>
    <item id="c1" href="text/one.xhtml" media-type="application/xhtml+xml"/>
    <item id="c2" href="text/two%20part.xhtml" media-type="application/xhtml+xml"/>
    <item id="cover" href="cover.xhtml" media-type="application/xhtml+xml"/>
    <item id="note" href="text/note.xhtml" media-type="application/xhtml+xml"/>
    <item id="img" href="images/cover.png" media-type="image/png"/>
    ${options.ncx ? '<item id="ncx" href="toc.ncx" media-type="application/x-dtbncx+xml"/>' : '<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>'}
  </manifest>
  <spine${options.ncx ? ' toc="ncx"' : ""}>
    <itemref idref="cover"/>
    ${options.ncx ? "" : '<itemref idref="nav"/>'}
    <itemref idref="c1"/>
    <itemref idref="note" linear="no"/>
    <itemref idref="c2"/>
    <itemref idref="c3"/>
  </spine>
</package>`;
  const files: Record<string, Uint8Array> = {
    mimetype: strToU8("application/epub+zip"),
    "META-INF/container.xml": strToU8(
      `<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles></container>`,
    ),
    "OEBPS/content.opf": strToU8(opf),
    "OEBPS/cover.xhtml": strToU8(page(`<div><img src="images/cover.png" alt=""/></div>`)),
    "OEBPS/images/cover.png": new Uint8Array([0x89, 0x50, 0x4e, 0x47]),
    "OEBPS/text/one.xhtml": strToU8(page(`<p>Once upon a <em>time</em> &#8212; there was a fox.</p>\n<p>It was\n  quick.</p><script>var x = "not spoken";</script>`)),
    "OEBPS/text/two part.xhtml": strToU8(page(`<h2 id="start">Two</h2><p>The fox met a hare.</p>`)),
    "OEBPS/text/three.xhtml": strToU8(page(`<h1>Ending</h1><p>And then it <b>slept</b>.</p>`, "Three")),
    "OEBPS/text/note.xhtml": strToU8(page(`<p>A note nobody reads aloud.</p>`)),
  };
  if (options.ncx) files["OEBPS/toc.ncx"] = strToU8(ncx);
  else files["OEBPS/nav.xhtml"] = strToU8(nav);
  return zipSync(files);
}
