//! [`Text`]: the strings of events (field names and string values), owned
//! or shared for the program's life.

/// Text an event holds, as a field's name or a string value: its own, or
/// text that lives as long as the program (names and constant values of
/// loaded configuration, interned once: see [`Text::interned`]; names and
/// values written in the program), which events share without an
/// allocation each.
#[derive(Clone)]
pub struct Text(Repr);

#[derive(Clone)]
enum Repr {
    Static(&'static str),
    Own(Box<str>),
}

impl Text {
    /// Text written in the program.
    pub const fn from_static(text: &'static str) -> Text {
        Text(Repr::Static(text))
    }

    /// The one copy of `text` kept for the program's life. Meant for the
    /// names and constant values of loaded configuration (a bounded set:
    /// loading the same text again returns the same copy), never for what
    /// records hold.
    pub fn interned(text: &str) -> Text {
        static TEXTS: std::sync::OnceLock<
            std::sync::Mutex<std::collections::HashSet<&'static str>>,
        > = std::sync::OnceLock::new();
        let mut texts = TEXTS
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let shared = match texts.get(text) {
            Some(shared) => *shared,
            None => {
                let shared: &'static str = Box::leak(text.into());
                texts.insert(shared);
                shared
            }
        };
        Text(Repr::Static(shared))
    }

    pub fn into_string(self) -> String {
        match self.0 {
            Repr::Static(text) => text.to_string(),
            Repr::Own(text) => text.into_string(),
        }
    }
}

impl std::ops::Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        match &self.0 {
            Repr::Static(text) => text,
            Repr::Own(text) => text,
        }
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self
    }
}

impl std::borrow::Borrow<str> for Text {
    fn borrow(&self) -> &str {
        self
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        **self == **other
    }
}

impl Eq for Text {}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        &**self == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        &**self == *other
    }
}

impl std::hash::Hash for Text {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (**self).hash(state)
    }
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

impl std::fmt::Display for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self)
    }
}

impl From<&str> for Text {
    fn from(name: &str) -> Text {
        Text(Repr::Own(name.into()))
    }
}

impl From<String> for Text {
    fn from(name: String) -> Text {
        Text(Repr::Own(name.into()))
    }
}

impl From<Box<str>> for Text {
    fn from(name: Box<str>) -> Text {
        Text(Repr::Own(name))
    }
}

impl From<&String> for Text {
    fn from(name: &String) -> Text {
        Text(Repr::Own(name.as_str().into()))
    }
}
