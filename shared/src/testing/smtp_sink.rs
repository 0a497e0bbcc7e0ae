//! An SMTP server for tests: it speaks enough SMTP for lettre (EHLO, MAIL, RCPT, DATA, RSET, NOOP,
//! QUIT), keeps every accepted message, and answers the end of DATA from a script (`4xx` twice, then
//! `250`, say) so tests can see retries and dead letters.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// A message the sink accepted.
#[derive(Debug, Clone)]
pub struct SinkMessage {
    pub recipients: Vec<String>,
    /// The DATA as received.
    pub raw: String,
    /// The DATA with quoted-printable soft breaks and escapes undone (links are whole again).
    pub decoded: String,
}

impl SinkMessage {
    /// A header's value (first occurrence).
    pub fn header(&self, name: &str) -> Option<String> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.raw
            .lines()
            .take_while(|line| !line.is_empty())
            .find(|line| line.to_ascii_lowercase().starts_with(&prefix))
            .map(|line| line[prefix.len()..].trim().to_owned())
    }

    pub fn message_id(&self) -> Option<String> {
        self.header("Message-ID")
    }

    pub fn subject(&self) -> Option<String> {
        self.header("Subject")
    }

    /// The first URL in the body that starts with `prefix`.
    pub fn link_starting_with(&self, prefix: &str) -> Option<String> {
        let start = self.decoded.find(prefix)?;
        let link: String = self.decoded[start..]
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '"' && *c != '<')
            .collect();
        Some(link.replace("&amp;", "&"))
    }
}

/// A scripted answer to the end of DATA.
#[derive(Debug, Clone)]
enum Reply {
    /// Refuse with this code and text.
    Refuse(u16, String),
    /// Keep the message (the server has it) but never answer: the client's crash window.
    Stall,
    /// Keep the message and answer 250 after a while.
    Delay(Duration),
}

#[derive(Default)]
struct State {
    messages: Vec<SinkMessage>,
    /// Answers to the next ends of DATA, in order; `250` at once when empty.
    script: VecDeque<Reply>,
    /// Ends of DATA answered so far (accepted or not).
    attempts: usize,
}

/// A running sink; stops when dropped.
pub struct SmtpSink {
    pub port: u16,
    state: Arc<Mutex<State>>,
    arrived: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the SMTP sink");
        let port = listener.local_addr().expect("sink address").port();
        let state = Arc::new(Mutex::new(State::default()));
        let arrived = Arc::new(Notify::new());
        let task = tokio::spawn({
            let (state, arrived) = (state.clone(), arrived.clone());
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    tokio::spawn(session(stream, state.clone(), arrived.clone()));
                }
            }
        });
        SmtpSink {
            port,
            state,
            arrived,
            task,
        }
    }

    /// `smtp://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The next `times` ends of DATA are answered `code text` instead of 250.
    pub fn fail_next(&self, times: usize, code: u16, text: &str) {
        let mut state = self.lock();
        for _ in 0..times {
            state.script.push_back(Reply::Refuse(code, text.to_owned()));
        }
    }

    /// The next end of DATA is kept but never answered, as when a server stores a message and the
    /// client dies before it reads the reply.
    pub fn stall_next(&self) {
        self.lock().script.push_back(Reply::Stall);
    }

    /// Forgets the answers still scripted: from now on every message gets 250.
    pub fn clear_script(&self) {
        self.lock().script.clear();
    }

    /// The next end of DATA is kept and answered 250 after `delay`.
    pub fn delay_next(&self, delay: Duration) {
        self.lock().script.push_back(Reply::Delay(delay));
    }

    pub fn messages(&self) -> Vec<SinkMessage> {
        self.lock().messages.clone()
    }

    /// Ends of DATA seen (accepted or refused).
    pub fn attempts(&self) -> usize {
        self.lock().attempts
    }

    /// Waits until at least `count` messages were accepted; panics after `timeout`.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<SinkMessage> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.arrived.notified();
            let messages = self.messages();
            if messages.len() >= count {
                return messages;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "{count} message(s) expected within {timeout:?}; the sink has {}",
                    self.messages().len()
                );
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poison| poison.into_inner())
    }
}

async fn session(stream: tokio::net::TcpStream, state: Arc<Mutex<State>>, arrived: Arc<Notify>) {
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    if writer.write_all(b"220 sink ESMTP ready\r\n").await.is_err() {
        return;
    }
    let mut recipients = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let command = line.trim_end().to_ascii_uppercase();
        let reply: String = if command.starts_with("EHLO") || command.starts_with("HELO") {
            "250 sink\r\n".into()
        } else if command.starts_with("MAIL FROM") {
            recipients.clear();
            "250 OK\r\n".into()
        } else if command.starts_with("RCPT TO") {
            let address = line.trim_end()[8..]
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>');
            recipients.push(address.to_owned());
            "250 OK\r\n".into()
        } else if command == "DATA" {
            if writer.write_all(b"354 end with .\r\n").await.is_err() {
                return;
            }
            let mut raw = String::new();
            loop {
                line.clear();
                match reader.read_line(&mut line).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                raw.push_str(
                    line.strip_prefix('.')
                        .filter(|_| line.starts_with(".."))
                        .unwrap_or(&line),
                );
            }
            let reply = {
                let mut state = state.lock().unwrap_or_else(|poison| poison.into_inner());
                state.attempts += 1;
                let reply = state.script.pop_front();
                if !matches!(reply, Some(Reply::Refuse(..))) {
                    let decoded = decode_quoted_printable(&raw);
                    state.messages.push(SinkMessage {
                        recipients: std::mem::take(&mut recipients),
                        raw,
                        decoded,
                    });
                }
                reply
            };
            arrived.notify_waiters();
            match reply {
                Some(Reply::Refuse(code, text)) => format!("{code} {text}\r\n"),
                Some(Reply::Stall) => {
                    // Hold the connection until the client goes away.
                    let mut rest = String::new();
                    while matches!(reader.read_line(&mut rest).await, Ok(n) if n > 0) {
                        rest.clear();
                    }
                    return;
                }
                Some(Reply::Delay(delay)) => {
                    tokio::time::sleep(delay).await;
                    "250 OK queued\r\n".to_owned()
                }
                None => "250 OK queued\r\n".to_owned(),
            }
        } else if command == "QUIT" {
            let _ = writer.write_all(b"221 bye\r\n").await;
            return;
        } else if command == "RSET" || command == "NOOP" {
            "250 OK\r\n".into()
        } else {
            "502 not implemented\r\n".into()
        };
        if writer.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Undoes quoted-printable in the MIME parts that use it: `=\r\n` soft breaks and `=XX` escapes.
fn decode_quoted_printable(raw: &str) -> String {
    let mut decoded = String::with_capacity(raw.len());
    let mut quoted = false;
    let mut part = String::new();
    for line in raw.split_inclusive('\n') {
        let lower = line.to_ascii_lowercase();
        if line.starts_with("--") {
            decoded.push_str(&decode_part(&std::mem::take(&mut part), quoted));
            quoted = false;
        } else if lower.starts_with("content-transfer-encoding:") {
            quoted = lower.contains("quoted-printable");
        }
        part.push_str(line);
    }
    decoded.push_str(&decode_part(&part, quoted));
    decoded
}

fn decode_part(part: &str, quoted: bool) -> String {
    if !quoted {
        return part.to_owned();
    }
    let joined = part.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Some(value) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            out.push(value);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
