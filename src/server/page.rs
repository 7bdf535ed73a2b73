//! The page `connbench page` loads when no URL is given: `/page?objects=N&size=B` is an HTML page with N images
//! of B bytes each (30 of 10 KiB by default), and `/page/object/I?size=B` is one of them. Any other target is
//! answered with the configured body, as before. Pure: a request target in, what to answer out; the connection
//! code renders the answer once per resource (`conn.rs`) and applies the same knobs (delay, status, Keep-Alive,
//! close after, truncate, reset) as to any response.

use std::fmt::Write as _;

/// Images on the page when the query does not say.
pub const DEFAULT_OBJECTS: u32 = 30;
/// Bytes per image when the query does not say.
pub const DEFAULT_SIZE: u32 = 10 * 1024;
/// Bounds on what a query may ask, so that a client cannot make the server render gigabytes.
pub const MAX_OBJECTS: u32 = 10_000;
pub const MAX_SIZE: u32 = 16 << 20;
/// Distinct resources whose rendering is kept; past this, each is rendered for its request alone.
pub const KEPT: usize = 64;

/// What a request target asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    /// Anything but the page and its objects: the configured body.
    Plain,
    Page {
        objects: u32,
        size: u32,
    },
    Object {
        size: u32,
    },
    /// `/page` with a query it cannot serve: answered 400.
    Bad,
}

/// The path of the page of `objects` images of `size` bytes, as a client asks for it.
pub fn path(objects: u32, size: u32) -> String {
    format!("/page?objects={objects}&size={size}")
}

/// What `target` (origin-form: path and query) asks for.
pub fn resource(target: &[u8]) -> Resource {
    let Some(rest) = target.strip_prefix(b"/page") else {
        return Resource::Plain;
    };
    let (path, query) = match rest.iter().position(|&b| b == b'?') {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &b""[..]),
    };
    let Ok(query) = std::str::from_utf8(query) else {
        return Resource::Bad;
    };
    let (mut objects, mut size) = (DEFAULT_OBJECTS, DEFAULT_SIZE);
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let number = value.parse::<u32>().ok();
        match (name, number) {
            ("objects", Some(n)) if n <= MAX_OBJECTS => objects = n,
            ("size", Some(n)) if n <= MAX_SIZE => size = n,
            _ => return Resource::Bad,
        }
    }
    match path {
        b"" | b"/" => Resource::Page { objects, size },
        object if object.starts_with(b"/object/") => Resource::Object { size },
        _ => Resource::Plain,
    }
}

/// The body of the page or of one of its objects, and its media type.
pub fn body(resource: Resource) -> (Vec<u8>, &'static str) {
    match resource {
        Resource::Page { objects, size } => (html(objects, size).into_bytes(), "text/html; charset=utf-8"),
        Resource::Object { size } => (vec![b'x'; size as usize], "application/octet-stream"),
        Resource::Plain | Resource::Bad => (Vec::new(), "text/plain"),
    }
}

fn html(objects: u32, size: u32) -> String {
    let mut page = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>connbench page: {objects} images of {size} \
         bytes</title></head>\n<body>\n"
    );
    for i in 1..=objects {
        let _ = writeln!(page, "<img src=\"/page/object/{i}?size={size}\" alt=\"\">");
    }
    page.push_str("</body></html>\n");
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_name_the_page_its_objects_or_neither() {
        // each case: the request target, what it asks for
        for (target, want) in [
            ("/", Resource::Plain),
            ("/pages", Resource::Plain),
            ("/page", Resource::Page { objects: 30, size: 10240 }),
            ("/page?objects=3&size=5", Resource::Page { objects: 3, size: 5 }),
            ("/page/?size=7", Resource::Page { objects: 30, size: 7 }),
            ("/page/object/12?size=100", Resource::Object { size: 100 }),
            ("/page?objects=10001", Resource::Bad),
            ("/page?objects=x", Resource::Bad),
            ("/page?colour=red", Resource::Bad),
        ] {
            assert_eq!(resource(target.as_bytes()), want, "{target}");
        }
    }

    #[test]
    fn the_page_links_each_object_once_and_objects_have_their_size() {
        let (page, media) = body(Resource::Page { objects: 3, size: 9 });
        let page = String::from_utf8(page).unwrap();
        assert_eq!(media, "text/html; charset=utf-8");
        assert_eq!(page.matches("<img src=\"/page/object/").count(), 3);
        assert!(page.contains("<img src=\"/page/object/3?size=9\" alt=\"\">"));
        assert_eq!(body(Resource::Object { size: 9 }).0, b"xxxxxxxxx");
        assert_eq!(path(3, 9), "/page?objects=3&size=9");
        assert_eq!(resource(path(3, 9).as_bytes()), Resource::Page { objects: 3, size: 9 });
    }
}
