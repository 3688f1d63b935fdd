//! The command-line parser: the static argument table, [`parse`], the parsed
//! values and `--help`.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use super::{FromArg, ParseError};

/// One runtime argument, as the generated entry point declares it in a static
/// table (every field is public and the struct is const-constructible):
///
/// ```
/// use mirage::args::{ArgSpec, check};
/// static SPECS: [ArgSpec; 1] = [ArgSpec {
///     name: "port",
///     doc: "The port to listen on.",
///     docv: "INT",
///     default: Some("8080"),
///     required: false,
///     flag: false,
///     check: check::<u16>,
/// }];
/// ```
///
/// An argument is *required* (`required: true`; a default is then ignored),
/// or has a *default*, or else is *optional*: its type is `Option<T>` and an
/// absent argument reads as `None`. A *flag* (`flag: true`) is a `bool`
/// argument that may be given bare (`--verbose`, meaning `true`); an absent
/// flag without default is `false`.
#[derive(Debug, Clone, Copy)]
pub struct ArgSpec {
    /// The name, without the leading `--` (`ipv4`, `hello-count`). `help` is
    /// reserved.
    pub name: &'static str,
    /// One-line description for `--help` (may contain newlines).
    pub doc: &'static str,
    /// The metavariable for `--help` (`INT`, `IPV4/PREFIX`; see
    /// [`FromArg::docv`]).
    pub docv: &'static str,
    /// The default value's text (rendered with [`ToArg`](super::ToArg)), if
    /// any.
    pub default: Option<&'static str>,
    /// Whether the argument must be given.
    pub required: bool,
    /// Whether the argument is a `bool` that may be given bare.
    pub flag: bool,
    /// Checks that a value's text parses as the argument's type:
    /// `mirage::args::check::<T>` (see [`check`](super::check)).
    pub check: fn(&str) -> Result<(), ParseError>,
}

/// Why the command line was not accepted. Every error names the argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgError {
    /// `--help` was given: print [`help`] and exit with code 0.
    Help,
    /// An argument that is not in the table (`arg` as given, without any
    /// `=value`), with the closest known name if one is near.
    Unknown {
        /// The argument as given (`--nope`).
        arg: String,
        /// A known name close to it (without `--`).
        suggestion: Option<&'static str>,
    },
    /// An argument that needs a value was last on the command line, or was
    /// followed by another `--argument`.
    MissingValue {
        /// The argument's name (without `--`).
        name: &'static str,
    },
    /// An argument was given more than once (rejected, as cmdliner does for
    /// an option).
    Duplicate {
        /// The argument's name (without `--`).
        name: &'static str,
    },
    /// A required argument was not given.
    MissingRequired {
        /// The argument's name (without `--`).
        name: &'static str,
    },
    /// A word that is not an argument: positional arguments are not
    /// accepted.
    Positional {
        /// The word.
        value: String,
    },
    /// A value that does not parse as the argument's type.
    Malformed {
        /// The argument's name (without `--`).
        name: &'static str,
        /// The value's text.
        value: String,
        /// What was expected (`an integer`...).
        expected: String,
    },
    /// A word of the command line that is not valid UTF-8, shown with each
    /// invalid sequence replaced by U+FFFD.
    NotUtf8 {
        /// The word, made printable.
        arg: String,
    },
}

impl ArgError {
    /// The error for a command-line word whose bytes are not valid UTF-8.
    pub fn not_utf8(word: &[u8]) -> Self {
        ArgError::NotUtf8 {
            arg: String::from_utf8_lossy(word).into_owned(),
        }
    }
}

impl ArgError {
    /// The process exit code for this error: 0 for [`ArgError::Help`], 64
    /// (`EX_USAGE`, as MirageOS's `mirage-runtime` uses for argument errors)
    /// otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            ArgError::Help => 0,
            _ => 64,
        }
    }
}

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgError::Help => f.write_str("help requested"),
            ArgError::Unknown { arg, suggestion } => {
                write!(f, "unknown argument '{arg}'")?;
                if let Some(s) = suggestion {
                    write!(f, " (did you mean '--{s}'?)")?;
                }
                Ok(())
            }
            ArgError::MissingValue { name } => write!(f, "missing value for --{name}"),
            ArgError::Duplicate { name } => {
                write!(f, "argument --{name} given more than once")
            }
            ArgError::MissingRequired { name } => {
                write!(f, "missing required argument --{name}")
            }
            ArgError::Positional { value } => write!(
                f,
                "unexpected positional argument '{value}' (arguments are given as --name=value)"
            ),
            ArgError::Malformed {
                name,
                value,
                expected,
            } => write!(
                f,
                "invalid value '{value}' for --{name}: expected {expected}"
            ),
            ArgError::NotUtf8 { arg } => write!(f, "argument '{arg}' is not valid UTF-8"),
        }
    }
}

impl core::error::Error for ArgError {}

/// The arguments of a command line, checked against their table: read each
/// with [`Parsed::get`].
#[derive(Debug, Clone)]
pub struct Parsed {
    specs: &'static [ArgSpec],
    /// The text given for each spec, in table order.
    values: Vec<Option<String>>,
}

impl Parsed {
    fn index(&self, name: &str) -> Result<usize, ArgError> {
        self.specs
            .iter()
            .position(|s| s.name == name)
            .ok_or_else(|| ArgError::Unknown {
                arg: format!("--{name}"),
                suggestion: suggest(self.specs, name),
            })
    }

    /// The value of argument `name`: the value given, else the default, else
    /// `T::absent()` (`None` for `Option<T>`), else `false` for a flag.
    ///
    /// Errors: [`ArgError::Unknown`] if `name` is not in the table,
    /// [`ArgError::Malformed`] if the text does not parse as `T` (only when
    /// `T` is not the type the table's `check` validated, or for a bad
    /// default), [`ArgError::MissingRequired`] if there is no value at all.
    pub fn get<T: FromArg>(&self, name: &str) -> Result<T, ArgError> {
        let i = self.index(name)?;
        let spec = &self.specs[i];
        let text = match (&self.values[i], spec.default) {
            (Some(v), _) => v.as_str(),
            (None, Some(d)) if !spec.required => d,
            (None, _) => {
                if let Some(v) = T::absent() {
                    return Ok(v);
                }
                if spec.flag && !spec.required {
                    "false"
                } else {
                    return Err(ArgError::MissingRequired { name: spec.name });
                }
            }
        };
        T::from_arg(text).map_err(|e| ArgError::Malformed {
            name: spec.name,
            value: text.to_string(),
            expected: e.expected,
        })
    }

    /// The text given on the command line for argument `name`, if it was
    /// given (defaults are not consulted; a bare flag reads `true`).
    pub fn given(&self, name: &str) -> Option<&str> {
        let i = self.index(name).ok()?;
        self.values[i].as_deref()
    }
}

/// Parses a command line against the argument table `specs`.
///
/// `args` are the words after the program name (skip `argv[0]`; split a
/// Solo5 command line with [`split_cmdline`](super::split_cmdline)). The
/// accepted forms are:
///
/// - `--name=value` (the value may be empty or start with `-`);
/// - `--name value`, where `value` is the next word unless that word starts
///   with `--` (then the value is missing; use `--name=--text`);
/// - for a flag, bare `--name` (meaning `true`; a flag never takes the next
///   word as its value) or `--name=false`;
/// - `--help` or `--help=...`, anywhere: [`ArgError::Help`] before any other
///   error.
///
/// Each argument may be given at most once. Any other word (not starting with
/// `--`, or `--` alone) is a positional argument, which is an error; a word
/// starting with a single `-` is an unknown argument. Every value is checked
/// with its spec's [`check`](ArgSpec::check), and every required argument must
/// be given. The first error on the command line, from left to right, is
/// returned; missing required arguments are reported after that, in table
/// order.
pub fn parse<'a, I: IntoIterator<Item = &'a str>>(
    specs: &'static [ArgSpec],
    args: I,
) -> Result<Parsed, ArgError> {
    let args: Vec<&str> = args.into_iter().collect();
    if args
        .iter()
        .any(|a| *a == "--help" || a.starts_with("--help="))
    {
        return Err(ArgError::Help);
    }
    let mut values: Vec<Option<String>> = vec![None; specs.len()];
    let mut words = args.into_iter();
    while let Some(word) = words.next() {
        let Some(body) = word.strip_prefix("--").filter(|b| !b.is_empty()) else {
            if word.starts_with('-') && word != "-" && word != "--" {
                return Err(ArgError::Unknown {
                    arg: word.to_string(),
                    suggestion: suggest(specs, word.trim_start_matches('-')),
                });
            }
            return Err(ArgError::Positional {
                value: word.to_string(),
            });
        };
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        let Some(i) = specs.iter().position(|s| s.name == name) else {
            return Err(ArgError::Unknown {
                arg: format!("--{name}"),
                suggestion: suggest(specs, name),
            });
        };
        let spec = &specs[i];
        if values[i].is_some() {
            return Err(ArgError::Duplicate { name: spec.name });
        }
        let value = match inline {
            Some(v) => v,
            None if spec.flag => "true",
            None => match words.as_slice().first().copied() {
                Some(next) if !next.starts_with("--") => {
                    words.next();
                    next
                }
                _ => return Err(ArgError::MissingValue { name: spec.name }),
            },
        };
        (spec.check)(value).map_err(|e| ArgError::Malformed {
            name: spec.name,
            value: value.to_string(),
            expected: e.expected,
        })?;
        values[i] = Some(value.to_string());
    }
    for (spec, value) in specs.iter().zip(&values) {
        if spec.required && value.is_none() {
            return Err(ArgError::MissingRequired { name: spec.name });
        }
    }
    Ok(Parsed { specs, values })
}

/// The edit distance (Levenshtein, on chars) between `a` and `b`.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let subst = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = subst.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        core::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The known name closest to `name`: one that starts with it, or else the
/// first at the smallest edit distance, if that is at most 2 and less than
/// `name`'s length.
fn suggest(specs: &[ArgSpec], name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return None;
    }
    if let Some(s) = specs.iter().find(|s| s.name.starts_with(name)) {
        return Some(s.name);
    }
    let limit = 2.min(name.chars().count() - 1);
    specs
        .iter()
        .map(|s| (edit_distance(name, s.name), s.name))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// The `--help` text of an application `app` with arguments `specs`: a usage
/// line (listing the required arguments) and one aligned line per argument
/// with its metavariable, description and default (or `[required]`), ending
/// with `--help` itself.
///
/// ```text
/// Usage: hello [OPTIONS] --key=STRING
///
/// Options:
///   --count=INT       How many times to say hello. [default: 4]
///   --key=STRING      The secret key. [required]
///   --verbose[=BOOL]  Print more. [default: false]
///   --help            Print this help and exit.
/// ```
pub fn help(app: &str, specs: &[ArgSpec]) -> String {
    let mut out = format!("Usage: {app} [OPTIONS]");
    for s in specs.iter().filter(|s| s.required) {
        out.push_str(&format!(" --{}={}", s.name, s.docv));
    }
    out.push_str("\n\nOptions:\n");
    let mut rows: Vec<(String, String)> = specs
        .iter()
        .map(|s| {
            let left = if s.flag {
                format!("--{}[={}]", s.name, s.docv)
            } else {
                format!("--{}={}", s.name, s.docv)
            };
            let note = match (s.required, s.default, s.flag) {
                (true, _, _) => "[required]".to_string(),
                (false, Some(""), _) => "[default: \"\"]".to_string(),
                (false, Some(d), _) => format!("[default: {d}]"),
                (false, None, true) => "[default: false]".to_string(),
                (false, None, false) => "[optional]".to_string(),
            };
            let right = if s.doc.is_empty() {
                note
            } else {
                format!("{} {note}", s.doc.trim_end())
            };
            (left, right)
        })
        .collect();
    rows.push(("--help".into(), "Print this help and exit.".into()));
    let width = rows
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0)
        + 4;
    for (left, right) in rows {
        out.push_str("  ");
        out.push_str(&left);
        let mut lines = right.lines();
        let first = lines.next().unwrap_or("");
        out.extend(core::iter::repeat_n(' ', width - 2 - left.chars().count()));
        out.push_str(first);
        out.push('\n');
        for line in lines {
            out.extend(core::iter::repeat_n(' ', width));
            out.push_str(line.trim_start());
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Ipv4Prefix, check};
    use core::net::Ipv4Addr;

    static SPECS: [ArgSpec; 8] = [
        ArgSpec {
            name: "count",
            doc: "How many times to say hello.",
            docv: "INT",
            default: Some("4"),
            required: false,
            flag: false,
            check: check::<u8>,
        },
        ArgSpec {
            name: "key",
            doc: "The secret key.",
            docv: "STRING",
            default: None,
            required: true,
            flag: false,
            check: check::<String>,
        },
        ArgSpec {
            name: "verbose",
            doc: "Print more.",
            docv: "BOOL",
            default: None,
            required: false,
            flag: true,
            check: check::<bool>,
        },
        ArgSpec {
            name: "ipv4",
            doc: "The address and network.",
            docv: "IPV4/PREFIX",
            default: Some("10.0.0.2/24"),
            required: false,
            flag: false,
            check: check::<Ipv4Prefix>,
        },
        ArgSpec {
            name: "gateway",
            doc: "The default gateway.",
            docv: "IPV4",
            default: None,
            required: false,
            flag: false,
            check: check::<Option<Ipv4Addr>>,
        },
        ArgSpec {
            name: "peers",
            doc: "Peers to contact.\nComma-separated.",
            docv: "IPV4,...",
            default: Some(""),
            required: false,
            flag: false,
            check: check::<Vec<Ipv4Addr>>,
        },
        ArgSpec {
            name: "offset",
            doc: "",
            docv: "INT",
            default: Some("-1"),
            required: false,
            flag: false,
            check: check::<i32>,
        },
        ArgSpec {
            name: "fast",
            doc: "Go fast.",
            docv: "BOOL",
            default: Some("true"),
            required: false,
            flag: true,
            check: check::<bool>,
        },
    ];

    fn p(args: &[&str]) -> Result<Parsed, ArgError> {
        parse(&SPECS, args.iter().copied())
    }

    fn e(args: &[&str]) -> String {
        p(args).unwrap_err().to_string()
    }

    #[test]
    fn defaults_and_values() {
        let a = p(&["--key=k"]).unwrap();
        assert_eq!(a.get::<u8>("count"), Ok(4));
        assert_eq!(a.get::<String>("key"), Ok("k".into()));
        assert_eq!(a.get::<bool>("verbose"), Ok(false));
        assert_eq!(a.get::<bool>("fast"), Ok(true));
        assert_eq!(
            a.get::<Ipv4Prefix>("ipv4").unwrap().to_string(),
            "10.0.0.2/24"
        );
        assert_eq!(a.get::<Option<Ipv4Addr>>("gateway"), Ok(None));
        assert_eq!(a.get::<Vec<Ipv4Addr>>("peers"), Ok(vec![]));
        assert_eq!(a.get::<i32>("offset"), Ok(-1));
        assert_eq!(a.given("count"), None);
        assert_eq!(a.given("key"), Some("k"));
        // A non-Option type without value or default is missing.
        assert_eq!(
            a.get::<Ipv4Addr>("gateway"),
            Err(ArgError::MissingRequired { name: "gateway" })
        );
        assert!(matches!(
            a.get::<u8>("cuont"),
            Err(ArgError::Unknown {
                suggestion: Some("count"),
                ..
            })
        ));
        // Reading with another type than the table's reports the text.
        assert_eq!(
            a.get::<u8>("ipv4").unwrap_err().to_string(),
            "invalid value '10.0.0.2/24' for --ipv4: expected an integer"
        );

        let a = p(&[
            "--count=7",
            "--key",
            "secret value",
            "--verbose",
            "--ipv4",
            "192.168.1.5/16",
            "--gateway=192.168.0.1",
            "--peers=1.1.1.1,8.8.8.8",
            "--offset",
            "-5",
            "--fast=no",
        ])
        .unwrap();
        assert_eq!(a.get::<u8>("count"), Ok(7));
        assert_eq!(a.get::<String>("key"), Ok("secret value".into()));
        assert_eq!(a.get::<bool>("verbose"), Ok(true));
        assert_eq!(a.get::<bool>("fast"), Ok(false));
        let net = a.get::<Ipv4Prefix>("ipv4").unwrap();
        assert_eq!(net.network(), Ipv4Addr::new(192, 168, 0, 0));
        assert_eq!(
            a.get::<Option<Ipv4Addr>>("gateway"),
            Ok(Some(Ipv4Addr::new(192, 168, 0, 1)))
        );
        assert_eq!(
            a.get::<Vec<Ipv4Addr>>("peers"),
            Ok(vec![Ipv4Addr::new(1, 1, 1, 1), Ipv4Addr::new(8, 8, 8, 8)])
        );
        assert_eq!(a.get::<i32>("offset"), Ok(-5));
    }

    #[test]
    fn value_forms() {
        let a = p(&["--key=", "--verbose=false", "--offset=-0x10"]).unwrap();
        assert_eq!(a.get::<String>("key"), Ok(String::new()));
        assert_eq!(a.get::<bool>("verbose"), Ok(false));
        assert_eq!(a.get::<i32>("offset"), Ok(-16));
        let a = p(&["--key=a=b", "--verbose=1"]).unwrap();
        assert_eq!(a.get::<String>("key"), Ok("a=b".into()));
        assert_eq!(a.get::<bool>("verbose"), Ok(true));
        // `--name value` takes a value that starts with a single dash.
        let a = p(&["--key", "-x"]).unwrap();
        assert_eq!(a.get::<String>("key"), Ok("-x".into()));
        let a = p(&["--key=--x"]).unwrap();
        assert_eq!(a.get::<String>("key"), Ok("--x".into()));
    }

    #[test]
    fn required() {
        assert_eq!(
            p(&[]).unwrap_err(),
            ArgError::MissingRequired { name: "key" }
        );
        assert_eq!(e(&["--count=1"]), "missing required argument --key");
    }

    #[test]
    fn unknown() {
        assert_eq!(
            e(&["--key=k", "--cuont=3"]),
            "unknown argument '--cuont' (did you mean '--count'?)"
        );
        assert_eq!(
            e(&["--key=k", "--verbos"]),
            "unknown argument '--verbos' (did you mean '--verbose'?)"
        );
        assert_eq!(
            e(&["--ipv6=::1"]),
            "unknown argument '--ipv6' (did you mean '--ipv4'?)"
        );
        assert_eq!(e(&["--nope"]), "unknown argument '--nope'");
        assert_eq!(e(&["--xyzzy=1"]), "unknown argument '--xyzzy'");
        assert_eq!(
            e(&["-count=3"]),
            "unknown argument '-count=3' (did you mean '--count'?)"
        );
        assert_eq!(e(&["-x"]), "unknown argument '-x'");
        assert_eq!(
            p(&["--cont"]).unwrap_err(),
            ArgError::Unknown {
                arg: "--cont".into(),
                suggestion: Some("count")
            }
        );
    }

    #[test]
    fn malformed() {
        assert_eq!(
            e(&["--key=k", "--count=abc"]),
            "invalid value 'abc' for --count: expected an integer"
        );
        assert_eq!(
            e(&["--key=k", "--count", "256"]),
            "invalid value '256' for --count: expected an integer in the range 0..=255"
        );
        assert_eq!(
            e(&["--key=k", "--ipv4=10.0.0.2/33"]),
            "invalid value '10.0.0.2/33' for --ipv4: expected an IPv4 address with a prefix length (a.b.c.d/0-32)"
        );
        assert_eq!(
            e(&["--key=k", "--verbose=maybe"]),
            "invalid value 'maybe' for --verbose: expected a boolean (true or false)"
        );
        assert_eq!(
            p(&["--peers=1.1.1.1,x"]).unwrap_err(),
            ArgError::Malformed {
                name: "peers",
                value: "1.1.1.1,x".into(),
                expected: "a comma-separated list of an IPv4 address".into()
            }
        );
        assert_eq!(
            e(&["--gateway="]),
            "invalid value '' for --gateway: expected an IPv4 address"
        );
    }

    #[test]
    fn missing_value() {
        assert_eq!(e(&["--key"]), "missing value for --key");
        assert_eq!(
            p(&["--count", "--key=k"]).unwrap_err(),
            ArgError::MissingValue { name: "count" }
        );
    }

    #[test]
    fn duplicate() {
        assert_eq!(
            e(&["--key=a", "--key", "b"]),
            "argument --key given more than once"
        );
        assert_eq!(
            p(&["--key=a", "--verbose", "--verbose=true"]).unwrap_err(),
            ArgError::Duplicate { name: "verbose" }
        );
    }

    #[test]
    fn positional() {
        assert_eq!(
            e(&["--key=k", "extra"]),
            "unexpected positional argument 'extra' (arguments are given as --name=value)"
        );
        // A flag never takes the next word.
        assert_eq!(
            p(&["--verbose", "true", "--key=k"]).unwrap_err(),
            ArgError::Positional {
                value: "true".into()
            }
        );
        assert!(matches!(p(&["--"]), Err(ArgError::Positional { .. })));
        assert!(matches!(p(&["-"]), Err(ArgError::Positional { .. })));
    }

    #[test]
    fn help_anywhere() {
        assert_eq!(p(&["--help"]).unwrap_err(), ArgError::Help);
        assert_eq!(p(&["--nope", "--help"]).unwrap_err(), ArgError::Help);
        assert_eq!(
            p(&["--count=x", "--help=plain"]).unwrap_err(),
            ArgError::Help
        );
        assert_eq!(ArgError::Help.exit_code(), 0);
        assert_eq!(p(&[]).unwrap_err().exit_code(), 64);
        assert_eq!(p(&["--nope"]).unwrap_err().exit_code(), 64);
        // `--key --help`: help wins over the missing value.
        assert_eq!(p(&["--key", "--help"]).unwrap_err(), ArgError::Help);
    }

    #[test]
    fn help_text() {
        let h = help("hello", &SPECS);
        let expected = "\
Usage: hello [OPTIONS] --key=STRING

Options:
  --count=INT         How many times to say hello. [default: 4]
  --key=STRING        The secret key. [required]
  --verbose[=BOOL]    Print more. [default: false]
  --ipv4=IPV4/PREFIX  The address and network. [default: 10.0.0.2/24]
  --gateway=IPV4      The default gateway. [optional]
  --peers=IPV4,...    Peers to contact.
                      Comma-separated. [default: \"\"]
  --offset=INT        [default: -1]
  --fast[=BOOL]       Go fast. [default: true]
  --help              Print this help and exit.
";
        assert_eq!(h, expected);
        assert_eq!(
            help("empty", &[]),
            "Usage: empty [OPTIONS]\n\nOptions:\n  --help  Print this help and exit.\n"
        );
    }

    #[test]
    fn solo5_cmdline() {
        let words = crate::args::split_cmdline(
            r#" --key="a secret"  --count 9 --peers='1.1.1.1,2.2.2.2' --verbose"#,
        );
        let a = parse(&SPECS, words.iter().map(String::as_str)).unwrap();
        assert_eq!(a.get::<String>("key"), Ok("a secret".into()));
        assert_eq!(a.get::<u8>("count"), Ok(9));
        assert_eq!(a.get::<Vec<Ipv4Addr>>("peers").unwrap().len(), 2);
        assert_eq!(a.get::<bool>("verbose"), Ok(true));
    }

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("cuont", "count"), 2);
        assert_eq!(suggest(&SPECS, "k"), Some("key"));
        assert_eq!(suggest(&SPECS, ""), None);
        assert_eq!(suggest(&SPECS, "zz"), None);
    }
}
