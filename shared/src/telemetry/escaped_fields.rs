//! The pretty log format's fields with control characters escaped. Values logged from requests
//! (a client id, a username, a header) could otherwise hold a newline and forge a line of their
//! own, or a terminal escape sequence (CWE-117). The JSON format escapes them already.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::Writer;

/// `FormatFields` like tracing-subscriber's default (`name=value`, the message bare), with every
/// control character in a value written as its Rust escape (`\n`, `\u{1b}`).
pub struct EscapedFields;

impl<'writer> FormatFields<'writer> for EscapedFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = Visitor {
            writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct Visitor<'writer> {
    writer: Writer<'writer>,
    first: bool,
    result: fmt::Result,
}

impl Visit for Visitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"));
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_err() {
            return;
        }
        self.result = self.write_field(field, value);
    }
}

impl Visitor<'_> {
    fn write_field(&mut self, field: &Field, value: &dyn fmt::Debug) -> fmt::Result {
        if !self.first {
            self.writer.write_char(' ')?;
        }
        self.first = false;
        let name = field.name();
        // `r#type` and the like are logged without the raw-identifier prefix.
        let name = name.strip_prefix("r#").unwrap_or(name);
        if name != "message" && !name.starts_with("log.") {
            write!(self.writer, "{name}=")?;
        }
        write!(Escaping(&mut self.writer), "{value:?}")
    }
}

/// A writer that escapes control characters on their way through (no copy of the value).
struct Escaping<'a, W: fmt::Write>(&'a mut W);

impl<W: fmt::Write> fmt::Write for Escaping<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        // Runs of ordinary characters are written whole; only control characters one by one.
        for piece in text.split_inclusive(char::is_control) {
            match piece.char_indices().last() {
                Some((at, last)) if last.is_control() => {
                    self.0.write_str(&piece[..at])?;
                    write!(self.0, "{}", last.escape_default())?;
                }
                _ => self.0.write_str(piece)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    fn logged(log: impl FnOnce()) -> String {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(EscapedFields)
            .with_ansi(false)
            .with_writer(captured.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, log);
        String::from_utf8(captured.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn a_newline_in_a_value_cannot_forge_a_line() {
        let forged = "x\n2026-12-01T00:00:00.000000Z  INFO admin signed in as root";
        let output = logged(|| {
            let span = tracing::info_span!("request", route = %forged);
            let _entered = span.enter();
            tracing::info!(client.id = %forged, username = forged, "client authentication failed");
        });
        assert_eq!(output.lines().count(), 1, "{output}");
        assert!(
            output.contains(r"client.id=x\n2026-12-01T00:00:00.000000Z  INFO admin"),
            "{output}"
        );
        assert!(output.contains(r#"username="x\n2026"#), "{output}");
        assert!(output.contains(r"route=x\n2026"), "{output}");
        assert!(output.contains("client authentication failed"), "{output}");
    }

    #[test]
    fn terminal_escapes_and_nul_are_escaped_and_text_is_kept() {
        let output = logged(|| tracing::warn!(value = %"\u{1b}[31mred\u{0}é", "plain message"));
        assert!(output.contains(r"value=\u{1b}[31mred\u{0}é"), "{output}");
        assert!(output.contains("plain message"), "{output}");
        assert!(!output.contains('\u{1b}'), "{output}");
    }
}
