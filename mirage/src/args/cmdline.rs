//! Splitting a Solo5-style command line (one string) into words.

use alloc::string::String;
use alloc::vec::Vec;

use super::ArgError;

/// Splits a single command-line string (as a Solo5 tender passes it) into
/// words, following a subset of POSIX shell quoting:
///
/// - Words are separated by runs of whitespace (`char::is_whitespace`);
///   leading and trailing whitespace is ignored.
/// - Outside quotes, a backslash makes the next character literal (a space,
///   a quote, a backslash...) and is removed. A backslash at the very end is
///   kept as a literal backslash.
/// - Inside `'single quotes'` every character is literal, backslashes
///   included, up to the next `'`.
/// - Inside `"double quotes"` every character is literal except that `\"`
///   gives `"` and `\\` gives `\`; any other backslash is kept.
/// - Quoted and unquoted parts next to each other form one word
///   (`--name="a b"c` is `--name=a bc`); an empty pair of quotes is an empty
///   word (`''` or `""`).
/// - An unterminated quote runs to the end of the string (no error).
///
/// There is no variable, glob or other expansion.
pub fn split_cmdline(cmdline: &str) -> Vec<String> {
    #[derive(PartialEq)]
    enum State {
        Plain,
        Single,
        Double,
    }
    let mut words = Vec::new();
    let mut word = String::new();
    // Whether a word has started (quotes can start an empty word).
    let mut in_word = false;
    let mut state = State::Plain;
    let mut chars = cmdline.chars();
    while let Some(c) = chars.next() {
        match state {
            State::Plain => match c {
                c if c.is_whitespace() => {
                    if in_word {
                        words.push(core::mem::take(&mut word));
                        in_word = false;
                    }
                }
                '\\' => {
                    word.push(chars.next().unwrap_or('\\'));
                    in_word = true;
                }
                '\'' => {
                    state = State::Single;
                    in_word = true;
                }
                '"' => {
                    state = State::Double;
                    in_word = true;
                }
                c => {
                    word.push(c);
                    in_word = true;
                }
            },
            State::Single => match c {
                '\'' => state = State::Plain,
                c => word.push(c),
            },
            State::Double => match c {
                '"' => state = State::Plain,
                '\\' => match chars.clone().next() {
                    Some(e @ ('"' | '\\')) => {
                        chars.next();
                        word.push(e);
                    }
                    _ => word.push('\\'),
                },
                c => word.push(c),
            },
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// [`split_cmdline`] of a command line given as bytes (a Solo5 tender
/// passes its arguments' bytes as they are). Bytes that are not UTF-8 are
/// an [`ArgError::NotUtf8`] naming the whitespace-separated word that holds
/// the first invalid sequence.
pub fn split_cmdline_bytes(cmdline: &[u8]) -> Result<Vec<String>, ArgError> {
    match core::str::from_utf8(cmdline) {
        Ok(text) => Ok(split_cmdline(text)),
        Err(e) => {
            let bad = e.valid_up_to();
            let start = cmdline[..bad]
                .iter()
                .rposition(u8::is_ascii_whitespace)
                .map_or(0, |i| i + 1);
            let end = cmdline[bad..]
                .iter()
                .position(u8::is_ascii_whitespace)
                .map_or(cmdline.len(), |i| bad + i);
            Err(ArgError::not_utf8(&cmdline[start..end]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn split(s: &str) -> Vec<String> {
        split_cmdline(s)
    }

    #[test]
    fn whitespace() {
        assert_eq!(split(""), Vec::<String>::new());
        assert_eq!(split("   \t\n "), Vec::<String>::new());
        assert_eq!(split("a"), vec!["a"]);
        assert_eq!(split("  --a=1 \t --b  2\n"), vec!["--a=1", "--b", "2"]);
    }

    #[test]
    fn quotes() {
        assert_eq!(split(r#"--name="a b""#), vec!["--name=a b"]);
        assert_eq!(split("--name='a b' c"), vec!["--name=a b", "c"]);
        assert_eq!(split(r#"x"a b"y'c d'z"#), vec!["xa byc dz"]);
        assert_eq!(split(r#"'' "" a"#), vec!["", "", "a"]);
        assert_eq!(split(r#"'a "b" c'"#), vec![r#"a "b" c"#]);
        assert_eq!(split(r#""it's""#), vec!["it's"]);
        assert_eq!(split(r"'a\b'"), vec![r"a\b"]);
        assert_eq!(split(r#""a\"b\\c\d""#), vec![r#"a"b\c\d"#]);
        assert_eq!(split(r#""unterminated a b"#), vec!["unterminated a b"]);
        assert_eq!(split("'open"), vec!["open"]);
    }

    #[test]
    fn bytes() {
        assert_eq!(
            split_cmdline_bytes(b" --a=1 'b c'"),
            Ok(vec!["--a=1".into(), "b c".into()])
        );
        assert_eq!(split_cmdline_bytes(b""), Ok(Vec::new()));
        let err = split_cmdline_bytes(b"--count=2 --hello=\xffok --x").unwrap_err();
        assert_eq!(
            err,
            ArgError::NotUtf8 {
                arg: "--hello=\u{fffd}ok".into()
            }
        );
        assert_eq!(
            alloc::format!("{err}"),
            "argument '--hello=\u{fffd}ok' is not valid UTF-8"
        );
        assert_eq!(
            split_cmdline_bytes(b"\xc3"),
            Err(ArgError::NotUtf8 {
                arg: "\u{fffd}".into()
            })
        );
        assert_eq!(err.exit_code(), 64);
    }

    #[test]
    fn escapes() {
        assert_eq!(split(r"a\ b c"), vec!["a b", "c"]);
        assert_eq!(split(r#"\"q\" \'s\'"#), vec![r#""q""#, "'s'"]);
        assert_eq!(split(r"a\\b"), vec![r"a\b"]);
        assert_eq!(split(r"a\nb"), vec!["anb"]);
        assert_eq!(split(r"end\"), vec![r"end\"]);
        assert_eq!(split(r"\ "), vec![" "]);
    }
}
