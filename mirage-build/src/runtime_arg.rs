//! Runtime arguments (the seed's `runtime_arg`): typed, documented
//! command-line arguments of the unikernel, declared at build time and
//! parsed when it starts.
//!
//! A default is rendered to its command-line text and parsed back with the
//! unikernel's own parser (`mirage::args::FromArg`) here, at build time: a
//! default that would not parse fails the build, not the start.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::panic::Location;
use std::rc::Rc;

use mirage::args::{FromArg, Ipv4Prefix, Ipv6Prefix, ToArg};

use crate::error::ConfigureError;

/// A type a runtime argument can have, as the build sees it: its Rust type
/// in the generated code and how a default is written on the command line.
pub trait ArgType: FromArg + ToArg + 'static {
    /// The type's path as the generated code writes it.
    fn rust_type() -> String;
    /// Whether the argument may be given bare (`--flag` for `--flag=true`).
    const FLAG: bool = false;
    /// Whether the argument may be absent without a default (`Option<T>`).
    const OPTIONAL: bool = false;
}

macro_rules! display_args {
    ($($t:ty => $path:literal),* $(,)?) => {$(
        impl ArgType for $t {
            fn rust_type() -> String {
                $path.to_string()
            }
        }
    )*};
}

display_args! {
    String => "mirage::export::String",
    u8 => "u8", u16 => "u16", u32 => "u32", u64 => "u64", usize => "usize",
    i8 => "i8", i16 => "i16", i32 => "i32", i64 => "i64", isize => "isize",
    Ipv4Addr => "core::net::Ipv4Addr",
    Ipv6Addr => "core::net::Ipv6Addr",
    IpAddr => "core::net::IpAddr",
    Ipv4Prefix => "mirage::args::Ipv4Prefix",
    Ipv6Prefix => "mirage::args::Ipv6Prefix",
    mirage::reporter::LogLevels => "mirage::reporter::LogLevels",
}

impl ArgType for bool {
    fn rust_type() -> String {
        "bool".to_string()
    }
    const FLAG: bool = true;
}

impl<T: ArgType> ArgType for Vec<T> {
    fn rust_type() -> String {
        format!("mirage::export::Vec<{}>", T::rust_type())
    }
}

impl<T: ArgType> ArgType for Option<T> {
    fn rust_type() -> String {
        format!("Option<{}>", T::rust_type())
    }
    const OPTIONAL: bool = true;
}

/// Everything the generated code needs to know about one runtime argument.
#[derive(Debug)]
pub(crate) struct ArgDef {
    pub(crate) name: String,
    pub(crate) doc: String,
    pub(crate) rust_type: String,
    pub(crate) default: Option<String>,
    pub(crate) required: bool,
    pub(crate) flag: bool,
    pub(crate) optional: bool,
    pub(crate) docv: String,
    pub(crate) location: &'static Location<'static>,
    pub(crate) problem: Option<String>,
}

impl ArgDef {
    /// The name of the generated local holding the parsed value.
    pub(crate) fn local(&self) -> String {
        format!("arg_{}", self.name.replace('-', "_"))
    }

    pub(crate) fn location(&self) -> String {
        crate::device::show_location(self.location)
    }

    /// Checks the declaration: name, default or required.
    pub(crate) fn validate(&self) -> Result<(), ConfigureError> {
        let error = |problem: String| ConfigureError::RuntimeArg {
            name: self.name.clone(),
            location: self.location(),
            problem,
        };
        if let Some(problem) = &self.problem {
            return Err(error(problem.clone()));
        }
        let valid_name = !self.name.is_empty()
            && self
                .name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_lowercase())
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid_name || self.name == "help" {
            return Err(error(
                "a name is lower-case letters, digits and '-', starts with a letter, and is not `help`"
                    .to_string(),
            ));
        }
        if self.default.is_none() && !self.required && !self.optional {
            return Err(error(
                "it has no default: give one with `.default(...)`, mark it `.required()`, or make it an `Option`"
                    .to_string(),
            ));
        }
        Ok(())
    }
}

/// A typed runtime argument (`--name=value`), to hand to the devices and
/// jobs that read it.
pub struct RuntimeArg<T> {
    pub(crate) def: Rc<ArgDef>,
    _type: std::marker::PhantomData<fn() -> T>,
}

impl<T> Clone for RuntimeArg<T> {
    fn clone(&self) -> Self {
        RuntimeArg {
            def: self.def.clone(),
            _type: std::marker::PhantomData,
        }
    }
}

/// A runtime argument `--name` of type `T`. It needs a `.default(...)`,
/// `.required()`, or an `Option` type.
///
/// ```
/// # use mirage_build::prelude::*;
/// let count = runtime_arg::<u32>("count").default(4).doc("How many times to say hello.");
/// assert_eq!(count.name(), "count");
/// ```
#[track_caller]
pub fn runtime_arg<T: ArgType>(name: &str) -> RuntimeArg<T> {
    RuntimeArg {
        def: Rc::new(ArgDef {
            name: name.to_string(),
            doc: String::new(),
            rust_type: T::rust_type(),
            default: None,
            required: false,
            flag: T::FLAG,
            optional: T::OPTIONAL,
            docv: T::docv(),
            location: Location::caller(),
            problem: None,
        }),
        _type: std::marker::PhantomData,
    }
}

impl<T: ArgType> RuntimeArg<T> {
    fn with(self, f: impl FnOnce(&mut ArgDef)) -> Self {
        let mut def = Rc::try_unwrap(self.def).unwrap_or_else(|shared| ArgDef {
            name: shared.name.clone(),
            doc: shared.doc.clone(),
            rust_type: shared.rust_type.clone(),
            default: shared.default.clone(),
            required: shared.required,
            flag: shared.flag,
            optional: shared.optional,
            docv: shared.docv.clone(),
            location: shared.location,
            problem: shared.problem.clone(),
        });
        f(&mut def);
        RuntimeArg {
            def: Rc::new(def),
            _type: std::marker::PhantomData,
        }
    }

    /// Sets the default value. It is checked here against the unikernel's
    /// parser: a default that would not parse back is reported by
    /// `configure`.
    pub fn default(self, value: T) -> Self {
        let Some(text) = value.to_default() else {
            return self.with(|def| def.default = None);
        };
        let round_trip = T::from_arg(&text);
        self.with(|def| match round_trip {
            Ok(_) => {
                def.default = Some(text);
                def.required = false;
            }
            Err(e) => {
                def.problem = Some(format!(
                    "its default `{text}` does not parse back: expected {}",
                    e.expected
                ))
            }
        })
    }

    /// Makes the argument required: starting without it is an error.
    pub fn required(self) -> Self {
        self.with(|def| {
            def.required = true;
            def.default = None;
        })
    }

    /// Sets the documentation shown by `--help`.
    pub fn doc(self, doc: &str) -> Self {
        let doc = doc.to_string();
        self.with(|def| def.doc = doc)
    }

    /// The argument's name.
    pub fn name(&self) -> &str {
        &self.def.name
    }
}

/// A runtime argument of any type, for lists of arguments (the seed's
/// `Runtime_arg.t`).
#[derive(Clone)]
pub struct AbstractArg {
    pub(crate) def: Rc<ArgDef>,
}

impl<T> From<&RuntimeArg<T>> for AbstractArg {
    fn from(arg: &RuntimeArg<T>) -> Self {
        AbstractArg {
            def: arg.def.clone(),
        }
    }
}

impl<T> From<RuntimeArg<T>> for AbstractArg {
    fn from(arg: RuntimeArg<T>) -> Self {
        AbstractArg { def: arg.def }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_render_and_validate() {
        let hello = runtime_arg::<String>("hello").default("Hello World!".into());
        assert_eq!(hello.def.default.as_deref(), Some("Hello World!"));
        assert!(hello.def.validate().is_ok());
        let ip = runtime_arg::<Ipv4Prefix>("ipv4").default("10.0.0.2/24".parse().unwrap());
        assert_eq!(ip.def.default.as_deref(), Some("10.0.0.2/24"));
        let list = runtime_arg::<Vec<u16>>("ports").default(vec![80, 443]);
        assert_eq!(list.def.default.as_deref(), Some("80,443"));
        assert_eq!(list.def.rust_type, "mirage::export::Vec<u16>");
    }

    #[test]
    fn missing_default_is_reported_with_the_location() {
        let port = runtime_arg::<u16>("port");
        let err = port.def.validate().unwrap_err().to_string();
        assert!(
            err.starts_with("runtime argument --port (declared at "),
            "{err}"
        );
        assert!(err.contains("it has no default"), "{err}");
        assert!(runtime_arg::<u16>("port").required().def.validate().is_ok());
        assert!(runtime_arg::<Option<u16>>("port").def.validate().is_ok());
    }

    #[test]
    fn bad_names_are_rejected() {
        for name in ["", "Port", "1st", "a_b", "help"] {
            assert!(
                runtime_arg::<u16>(name).default(1).def.validate().is_err(),
                "{name}"
            );
        }
    }
}
