//! JSON Pointers (RFC 6901) built lazily: nothing is allocated unless a violation is reported.

use std::fmt::Write;

/// One step down a JSON document.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Seg<'a> {
    /// An object member.
    Key(&'a str),
    /// An array element.
    Index(usize),
}

/// A JSON Pointer as a chain of segments borrowed from the caller's stack frames.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ptr<'a> {
    parent: Option<&'a Ptr<'a>>,
    seg: Option<Seg<'a>>,
}

impl<'a> Ptr<'a> {
    /// The whole document (`""`).
    pub(crate) const ROOT: Ptr<'static> = Ptr {
        parent: None,
        seg: None,
    };

    /// The member `key` of this value.
    pub(crate) fn key(&'a self, key: &'a str) -> Ptr<'a> {
        Ptr {
            parent: Some(self),
            seg: Some(Seg::Key(key)),
        }
    }

    /// The element `index` of this value.
    pub(crate) fn index(&'a self, index: usize) -> Ptr<'a> {
        Ptr {
            parent: Some(self),
            seg: Some(Seg::Index(index)),
        }
    }

    fn write_to(&self, out: &mut String) {
        if let Some(parent) = self.parent {
            parent.write_to(out);
        }
        match self.seg {
            None => {}
            Some(Seg::Index(i)) => {
                let _ = write!(out, "/{i}");
            }
            Some(Seg::Key(key)) => {
                out.push('/');
                for c in key.chars() {
                    match c {
                        '~' => out.push_str("~0"),
                        '/' => out.push_str("~1"),
                        c => out.push(c),
                    }
                }
            }
        }
    }

    /// The pointer text, e.g. `/certificate/emails/1`.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        self.write_to(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_rfc6901() {
        let root = Ptr::ROOT;
        assert_eq!(root.render(), "");
        let cert = root.key("certificate");
        let emails = cert.key("emails");
        assert_eq!(emails.index(1).render(), "/certificate/emails/1");
        assert_eq!(root.key("a/b~c").render(), "/a~1b~0c");
        assert_eq!(root.key("").render(), "/");
    }
}
