//! Configure-time keys and the values computed from them (the seed's `key`
//! and `value`).
//!
//! A key is read from the environment variable `MIRAGE_<NAME>` (upper case,
//! `-` as `_`) when `configure` evaluates the graph; `configure` tells cargo
//! to rebuild when the variable changes. The target is a key too, read from
//! the application's `target-*` cargo feature.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::rc::Rc;

use crate::error::ConfigureError;

/// The target a unikernel is built for, from the application's cargo
/// feature `target-unix` (default), `target-hvt` or `target-spt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    /// A Linux process.
    Unix,
    /// A KVM guest booted by a Solo5 hvt tender.
    Hvt,
    /// A seccomp-sandboxed process booted by a Solo5 spt tender.
    Spt,
}

impl Target {
    /// Every target, in feature order.
    pub const ALL: [Target; 3] = [Target::Unix, Target::Hvt, Target::Spt];

    /// The target's name (`unix`, `hvt`, `spt`).
    pub fn name(self) -> &'static str {
        match self {
            Target::Unix => "unix",
            Target::Hvt => "hvt",
            Target::Spt => "spt",
        }
    }

    /// The cargo feature selecting the target (`target-unix`...).
    pub fn feature(self) -> String {
        format!("target-{}", self.name())
    }

    /// Whether the target is a Solo5 unikernel (no operating system).
    pub fn is_solo5(self) -> bool {
        matches!(self, Target::Hvt | Target::Spt)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a key's value is parsed from and printed as.
pub trait KeyType: Clone + PartialEq + fmt::Debug + 'static {
    /// The expected form, in words, for error messages.
    const EXPECTED: &'static str;
    /// Parses the environment variable's text.
    fn parse_key(text: &str) -> Option<Self>;
    /// The value as it would be written in the environment variable.
    fn show(&self) -> String;
}

impl KeyType for bool {
    const EXPECTED: &'static str = "true or false";
    fn parse_key(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Some(true),
            "false" | "0" | "no" => Some(false),
            _ => None,
        }
    }
    fn show(&self) -> String {
        self.to_string()
    }
}

impl KeyType for String {
    const EXPECTED: &'static str = "a string";
    fn parse_key(text: &str) -> Option<Self> {
        Some(text.to_string())
    }
    fn show(&self) -> String {
        self.clone()
    }
}

macro_rules! int_keys {
    ($($t:ty),*) => {$(
        impl KeyType for $t {
            const EXPECTED: &'static str = "an integer";
            fn parse_key(text: &str) -> Option<Self> {
                text.trim().parse().ok()
            }
            fn show(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
int_keys!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

/// Where keys are read from while the graph is evaluated: the environment
/// variables (a copy, so tests can supply their own) and the target.
pub struct Context {
    env: BTreeMap<String, String>,
    target: Target,
    read: RefCell<BTreeSet<String>>,
    resolved: RefCell<BTreeMap<String, String>>,
    described: RefCell<BTreeMap<String, KeyDescription>>,
}

/// A key as the graph's description shows it: where it is read from, its
/// default and its documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDescription {
    /// The environment variable (`MIRAGE_<NAME>`).
    pub var: String,
    /// The default value, as it would be written in the variable.
    pub default: String,
    /// The documentation given with [`Key::doc`] (may be empty).
    pub doc: String,
}

impl Context {
    /// A context over the given environment variables and target.
    pub fn new(env: BTreeMap<String, String>, target: Target) -> Self {
        Context {
            env,
            target,
            read: RefCell::new(BTreeSet::new()),
            resolved: RefCell::new(BTreeMap::new()),
            described: RefCell::new(BTreeMap::new()),
        }
    }

    /// The target being built.
    pub fn target(&self) -> Target {
        self.target
    }

    /// The environment variables read so far (for `rerun-if-env-changed`).
    pub fn variables_read(&self) -> BTreeSet<String> {
        self.read.borrow().clone()
    }

    /// Every key resolved so far with its value, by key name.
    pub fn resolved_keys(&self) -> BTreeMap<String, String> {
        self.resolved.borrow().clone()
    }

    /// Every key read so far, described, by key name.
    pub fn described_keys(&self) -> BTreeMap<String, KeyDescription> {
        self.described.borrow().clone()
    }

    fn lookup(&self, var: &str) -> Option<&str> {
        self.read.borrow_mut().insert(var.to_string());
        self.env.get(var).map(String::as_str)
    }
}

/// A configure-time key: typed, documented, with a default, read from
/// `MIRAGE_<NAME>`.
#[derive(Clone)]
pub struct Key<T: KeyType> {
    name: String,
    doc: String,
    default: T,
}

/// A new key named `name` (letters, digits and `-`) with its default value.
///
/// ```
/// # use mirage_build::prelude::*;
/// let dhcp = key("dhcp", false).doc("Use DHCP to configure the stack.");
/// assert_eq!(dhcp.env_var(), "MIRAGE_DHCP");
/// ```
pub fn key<T: KeyType>(name: &str, default: T) -> Key<T> {
    Key {
        name: name.to_string(),
        doc: String::new(),
        default,
    }
}

impl<T: KeyType> Key<T> {
    /// Sets the key's documentation.
    pub fn doc(mut self, doc: &str) -> Self {
        self.doc = doc.to_string();
        self
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key's documentation.
    pub fn documentation(&self) -> &str {
        &self.doc
    }

    /// The environment variable the key is read from.
    pub fn env_var(&self) -> String {
        format!(
            "MIRAGE_{}",
            self.name.to_ascii_uppercase().replace('-', "_")
        )
    }

    /// Reads the key in `cx`: the variable's value, or the default.
    pub fn get(&self, cx: &Context) -> Result<T, ConfigureError> {
        let var = self.env_var();
        cx.described.borrow_mut().insert(
            self.name.clone(),
            KeyDescription {
                var: var.clone(),
                default: self.default.show(),
                doc: self.doc.clone(),
            },
        );
        let value = match cx.lookup(&var) {
            None => self.default.clone(),
            Some(text) => T::parse_key(text).ok_or_else(|| ConfigureError::Key {
                key: self.name.clone(),
                var: var.clone(),
                value: text.to_string(),
                expected: T::EXPECTED.to_string(),
            })?,
        };
        cx.resolved
            .borrow_mut()
            .insert(self.name.clone(), value.show());
        Ok(value)
    }

    /// The key's value, for `if_impl`, `match_impl` and `Value::map`.
    pub fn value(&self) -> Value<T> {
        let key = self.clone();
        Value::from_fn(move |cx| key.get(cx))
    }
}

/// A value computed from keys when the graph is evaluated (the seed's
/// `'a value`).
pub struct Value<T> {
    compute: Rc<ValueFn<T>>,
}

/// How a [`Value`] is computed.
type ValueFn<T> = dyn Fn(&Context) -> Result<T, ConfigureError>;

impl<T> Clone for Value<T> {
    fn clone(&self) -> Self {
        Value {
            compute: self.compute.clone(),
        }
    }
}

impl<T: 'static> Value<T> {
    /// A value that does not depend on any key.
    pub fn pure(value: T) -> Self
    where
        T: Clone,
    {
        Value::from_fn(move |_| Ok(value.clone()))
    }

    /// A value computed by `f` in the evaluation context.
    pub fn from_fn(f: impl Fn(&Context) -> Result<T, ConfigureError> + 'static) -> Self {
        Value {
            compute: Rc::new(f),
        }
    }

    /// A value derived from this one.
    pub fn map<U: 'static>(&self, f: impl Fn(T) -> U + 'static) -> Value<U> {
        let this = self.clone();
        Value::from_fn(move |cx| this.eval(cx).map(&f))
    }

    /// Computes the value in `cx`.
    pub fn eval(&self, cx: &Context) -> Result<T, ConfigureError> {
        (self.compute)(cx)
    }
}

/// The target being built, as a value.
pub fn target() -> Value<Target> {
    Value::from_fn(|cx| Ok(cx.target()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx(vars: &[(&str, &str)]) -> Context {
        Context::new(
            vars.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            Target::Unix,
        )
    }

    #[test]
    fn keys_read_their_variable_or_default() {
        let dhcp = key("dhcp", false);
        assert!(!dhcp.get(&cx(&[])).unwrap());
        assert!(dhcp.get(&cx(&[("MIRAGE_DHCP", "true")])).unwrap());
        let net = key("kv-ro", String::from("crunch"));
        assert_eq!(net.env_var(), "MIRAGE_KV_RO");
        let c = cx(&[("MIRAGE_KV_RO", "direct")]);
        assert_eq!(net.value().map(|s| s.len()).eval(&c).unwrap(), 6);
        assert!(c.variables_read().contains("MIRAGE_KV_RO"));
        assert_eq!(c.resolved_keys()["kv-ro"], "direct");
        let documented = key("dhcp", false).doc("Use DHCP.");
        assert!(documented.get(&c).is_ok());
        assert_eq!(
            c.described_keys()["dhcp"],
            KeyDescription {
                var: "MIRAGE_DHCP".into(),
                default: "false".into(),
                doc: "Use DHCP.".into(),
            }
        );
    }

    #[test]
    fn malformed_key_values_are_errors_naming_the_variable() {
        let err = key("dhcp", false)
            .get(&cx(&[("MIRAGE_DHCP", "maybe")]))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "configure-time key `dhcp`: MIRAGE_DHCP=maybe is not true or false"
        );
        assert!(
            key("count", 3u32)
                .get(&cx(&[("MIRAGE_COUNT", "-1")]))
                .is_err()
        );
    }
}
