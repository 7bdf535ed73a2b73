//! The page's embedded objects: what a browser would fetch after the HTML, found by a real HTML parser (scraper,
//! over html5ever: the WHATWG tree builder, so a page that is not well-formed is read as a browser reads it), or
//! listed by the user (`--objects FILE`). Pure: text in, objects and what was skipped out.
//!
//! What counts as an embedded object: `img[src]` (or, when it has one, the first candidate of `img[srcset]`, the
//! one a browser picks without a pixel-density hint), `script[src]`, `link[href]` whose `rel` has `stylesheet`,
//! `icon` or `preload`, `source[src]`, `video[src]` and `audio[src]`. References resolve against the document's
//! base URL (the first `<base href>`, itself resolved against the page's URL; HTML Living Standard §2.4.1), lose
//! their fragment (never sent), and each URL is fetched once, as a browser's memory cache would.

use serde::{Deserialize, Serialize};
use url::Url;

/// Where an object was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Img,
    /// The first candidate of `img[srcset]`.
    Srcset,
    Script,
    Stylesheet,
    Icon,
    Preload,
    Source,
    Video,
    Audio,
    /// A line of `--objects FILE`.
    Listed,
}

impl Kind {
    /// As the HTML says it.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Img => "img",
            Kind::Srcset => "img srcset",
            Kind::Script => "script",
            Kind::Stylesheet => "stylesheet",
            Kind::Icon => "icon",
            Kind::Preload => "preload",
            Kind::Source => "source",
            Kind::Video => "video",
            Kind::Audio => "audio",
            Kind::Listed => "listed",
        }
    }
}

/// One object to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub url: Url,
    pub kind: Kind,
    /// GET, unless `--objects FILE` says otherwise.
    pub method: String,
}

impl Object {
    /// `scheme://host:port`, how objects are grouped into connections.
    pub fn origin(&self) -> String {
        self.url.origin().ascii_serialization()
    }
}

/// A reference that is not fetched, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub kind: Kind,
    /// As written in the page (a data: URL shortened).
    pub reference: String,
    pub why: String,
}

/// What a page embeds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Discovery {
    /// In document order, each URL once.
    pub objects: Vec<Object>,
    pub skipped: Vec<Skipped>,
    /// References to a URL already listed.
    pub duplicates: u64,
}

/// The embedded objects of `html`, the page at `page`.
pub fn discover(html: &str, page: &Url) -> Discovery {
    let document = scraper::Html::parse_document(html);
    let select = |css: &str| scraper::Selector::parse(css).expect("the selectors here are valid CSS");
    let base = document
        .select(&select("base[href]"))
        .next()
        .and_then(|base| page.join(base.value().attr("href")?.trim()).ok())
        .unwrap_or_else(|| page.clone());
    let mut found = Discovery::default();
    let embedded = select("img, script[src], link[href], source[src], video[src], audio[src]");
    for element in document.select(&embedded) {
        let element = element.value();
        let (kind, reference) = match element.name() {
            "img" => match element.attr("srcset").and_then(first_candidate) {
                Some(candidate) => (Kind::Srcset, candidate),
                None => (Kind::Img, element.attr("src").unwrap_or_default().trim()),
            },
            "script" => (Kind::Script, element.attr("src").unwrap_or_default().trim()),
            "link" => match link_kind(element.attr("rel").unwrap_or_default()) {
                Some(kind) => (kind, element.attr("href").unwrap_or_default().trim()),
                None => continue,
            },
            "source" => (Kind::Source, element.attr("src").unwrap_or_default().trim()),
            "video" => (Kind::Video, element.attr("src").unwrap_or_default().trim()),
            _ => (Kind::Audio, element.attr("src").unwrap_or_default().trim()),
        };
        found.add(kind, reference, &base, "GET");
    }
    found
}

impl Discovery {
    /// Resolves `reference` against `base` and keeps it, or says why not.
    fn add(&mut self, kind: Kind, reference: &str, base: &Url, method: &str) {
        let skip = |why: &str| Skipped { kind, reference: shorten(reference), why: why.into() };
        if reference.is_empty() {
            self.skipped.push(skip("empty"));
            return;
        }
        let mut url = match base.join(reference) {
            Ok(url) => url,
            Err(e) => return self.skipped.push(skip(&format!("not a URL ({e})"))),
        };
        match url.scheme() {
            "http" | "https" => {}
            "data" => return self.skipped.push(skip("a data: URL, inside the page")),
            other => return self.skipped.push(skip(&format!("scheme {other}: not http or https"))),
        }
        url.set_fragment(None);
        if self.objects.iter().any(|seen| seen.url == url && seen.method == method) {
            self.duplicates += 1;
            return;
        }
        self.objects.push(Object { url, kind, method: method.into() });
    }

    /// Objects per origin and kind, in order of origin then kind: what was found, as people read it.
    pub fn found(&self) -> Vec<(String, Kind, u64)> {
        let mut counts: std::collections::BTreeMap<(String, Kind), u64> = Default::default();
        for object in &self.objects {
            *counts.entry((object.origin(), object.kind)).or_default() += 1;
        }
        counts.into_iter().map(|((origin, kind), n)| (origin, kind, n)).collect()
    }
}

/// The kind of a `<link>` by its `rel` tokens (ASCII case-insensitive, HTML Living Standard §4.6.1), if it
/// embeds an object.
fn link_kind(rel: &str) -> Option<Kind> {
    let has = |token: &str| rel.split_ascii_whitespace().any(|t| t.eq_ignore_ascii_case(token));
    if has("stylesheet") {
        Some(Kind::Stylesheet)
    } else if has("icon") {
        Some(Kind::Icon)
    } else if has("preload") {
        Some(Kind::Preload)
    } else {
        None
    }
}

/// The URL of a `srcset`'s first image candidate (HTML Living Standard §4.8.4.3.10: skip whitespace and commas,
/// take the run of non-whitespace, drop the commas that end it).
fn first_candidate(srcset: &str) -> Option<&str> {
    let rest = srcset.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == ',');
    let url = rest.split(|c: char| c.is_ascii_whitespace()).next()?.trim_end_matches(',');
    (!url.is_empty()).then_some(url)
}

/// A reference short enough for a report line (a data: URL is kilobytes of base64), and safe to print: it came
/// from a server's page, so control characters are shown, not sent to the terminal (`printable`).
fn shorten(reference: &str) -> String {
    let reference = crate::printable::printable(reference);
    match reference.char_indices().nth(60) {
        Some((at, _)) => format!("{}…", &reference[..at]),
        None => reference.to_string(),
    }
}

/// `--objects FILE`: one object a line, `URL` or `METHOD URL`, relative URLs resolved against the page's;
/// blank lines and lines starting with `#` are skipped. Errors name the file and the line.
pub fn read_list(text: &str, file: &str, page: &Url) -> Result<Discovery, String> {
    let mut listed = Discovery::default();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = |why: String| format!("--objects {file}, line {}: {why}", number + 1);
        let shown = crate::printable::printable(line);
        let (method, reference) = match line.split_once(char::is_whitespace) {
            Some((method, reference)) => (method.to_ascii_uppercase(), reference.trim()),
            None => ("GET".to_string(), line),
        };
        if !method.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(at(format!("'{shown}' is not URL or METHOD URL")));
        }
        let skipped = listed.skipped.len();
        listed.add(Kind::Listed, reference, page, &method);
        if let Some(skip) = listed.skipped.get(skipped) {
            return Err(at(format!("'{}': {}", skip.reference, skip.why)));
        }
    }
    if listed.objects.is_empty() {
        return Err(format!("--objects {file}: no object in it (one URL a line, or METHOD URL)"));
    }
    Ok(listed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = r#"<!doctype html>
<html><head>
<base href="/static/">
<link rel="stylesheet" href="site.css">
<link rel="Shortcut ICON" href="/favicon.ico">
<link rel="preload" href="font.woff2" as="font">
<link rel="canonical" href="/elsewhere">
<script src="app.js"></script>
<script>inline()</script>
</head><body>
<img src="a.png"><img src="a.png#again">
<img src="fallback.png" srcset=" small.png 1x, large.png 2x">
<img src="data:image/png;base64,iVBORw0KGgo=">
<img src="">
<picture><source src="https://cdn.example.test/b.webp"></picture>
<video src="//cdn.example.test/clip.mp4"></video>
<audio src="sound.ogg"></audio>
<img src="ftp://old.example.test/c.png">
<p>not closed <div>tags soup
"#;

    #[test]
    fn every_kind_is_found_resolved_against_base_in_document_order() {
        let page = Url::parse("http://example.test:8080/dir/index.html").unwrap();
        let found = discover(FIXTURE, &page);
        let objects: Vec<_> = found.objects.iter().map(|o| (o.kind, o.url.as_str())).collect();
        assert_eq!(
            objects,
            [
                (Kind::Stylesheet, "http://example.test:8080/static/site.css"),
                (Kind::Icon, "http://example.test:8080/favicon.ico"),
                (Kind::Preload, "http://example.test:8080/static/font.woff2"),
                (Kind::Script, "http://example.test:8080/static/app.js"),
                (Kind::Img, "http://example.test:8080/static/a.png"),
                (Kind::Srcset, "http://example.test:8080/static/small.png"),
                (Kind::Source, "https://cdn.example.test/b.webp"),
                (Kind::Video, "http://cdn.example.test/clip.mp4"),
                (Kind::Audio, "http://example.test:8080/static/sound.ogg"),
            ]
        );
        assert_eq!(found.duplicates, 1, "a.png twice, its fragment not sent");
        let skipped: Vec<_> = found.skipped.iter().map(|s| (s.kind, s.why.as_str())).collect();
        assert_eq!(
            skipped,
            [
                (Kind::Img, "a data: URL, inside the page"),
                (Kind::Img, "empty"),
                (Kind::Img, "scheme ftp: not http or https")
            ]
        );
        let found = found.found();
        assert_eq!(found[0], ("http://cdn.example.test".to_string(), Kind::Video, 1));
        assert_eq!(found.iter().map(|f| f.2).sum::<u64>(), 9);
        assert!(found.contains(&("https://cdn.example.test".to_string(), Kind::Source, 1)));
    }

    #[test]
    fn without_base_references_resolve_against_the_page() {
        let page = Url::parse("https://example.test/a/b.html").unwrap();
        let found = discover(r#"<img src="../x.png"><script src="/y.js"></script><img src=z.png>"#, &page);
        let urls: Vec<_> = found.objects.iter().map(|o| o.url.as_str()).collect();
        assert_eq!(urls, ["https://example.test/x.png", "https://example.test/y.js", "https://example.test/a/z.png"]);
        assert_eq!(first_candidate(",, a.png 1x,b.png 2x"), Some("a.png"));
        assert_eq!(first_candidate("a.png,"), Some("a.png"));
        assert_eq!(first_candidate("  "), None);
    }

    #[test]
    fn a_list_takes_urls_and_methods_and_names_a_bad_line() {
        let page = Url::parse("http://example.test/index.html").unwrap();
        let list = read_list("# objects\n/a.png\n\npost /form\nhttp://other.test/b.js\n", "o.txt", &page).unwrap();
        let objects: Vec<_> = list.objects.iter().map(|o| (o.method.as_str(), o.url.as_str())).collect();
        assert_eq!(
            objects,
            [
                ("GET", "http://example.test/a.png"),
                ("POST", "http://example.test/form"),
                ("GET", "http://other.test/b.js")
            ]
        );
        let err = read_list("/a.png\nftp://x/y\n", "o.txt", &page).unwrap_err();
        assert_eq!(err, "--objects o.txt, line 2: 'ftp://x/y': scheme ftp: not http or https");
        assert!(read_list("# nothing\n", "o.txt", &page).unwrap_err().contains("no object"));
        assert!(read_list("G3T /a\n", "o.txt", &page).unwrap_err().contains("line 1"));
        // what came from outside is shown, never sent to the terminal as it is
        let err = read_list("G\x1b[2J /a\n", "o.txt", &page).unwrap_err();
        assert!(err.contains("'G\\u{1b}[2J /a'") && !err.contains('\x1b'), "{err}");
    }
}
