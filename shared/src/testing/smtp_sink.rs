//! An SMTP server for tests: it speaks enough SMTP for lettre (EHLO, MAIL, RCPT, DATA, RSET, NOOP,
//! QUIT), keeps every accepted message, and answers the end of DATA from a script (`4xx` twice, then
//! `250`, say) so tests can see retries and dead letters.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use super::quoted_printable;

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

async fn session(stream: TcpStream, state: Arc<Mutex<State>>, arrived: Arc<Notify>) {
    let (reader, writer) = stream.into_split();
    let mut session = Session {
        reader: BufReader::new(reader),
        writer,
        recipients: Vec::new(),
        state,
        arrived,
    };
    if session.send("220 sink ESMTP ready\r\n").await.is_err() {
        return;
    }
    while let Some(line) = session.read_line().await {
        let Some(reply) = session.answer(&line).await else {
            return;
        };
        if session.send(&reply).await.is_err() {
            return;
        }
    }
}

/// One client's connection.
struct Session {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    /// The recipients of the message in progress.
    recipients: Vec<String>,
    state: Arc<Mutex<State>>,
    arrived: Arc<Notify>,
}

impl Session {
    /// The next line, `None` once the client has gone.
    async fn read_line(&mut self) -> Option<String> {
        let mut line = String::new();
        match self.reader.read_line(&mut line).await {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line),
        }
    }

    async fn send(&mut self, reply: &str) -> std::io::Result<()> {
        self.writer.write_all(reply.as_bytes()).await
    }

    /// The reply to one command line; `None` ends the session.
    async fn answer(&mut self, line: &str) -> Option<String> {
        let command = line.trim_end().to_ascii_uppercase();
        if command.starts_with("EHLO") || command.starts_with("HELO") {
            Some("250 sink\r\n".into())
        } else if command.starts_with("MAIL FROM") {
            self.recipients.clear();
            Some("250 OK\r\n".into())
        } else if command.starts_with("RCPT TO") {
            let address = line.trim_end()[8..]
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>');
            self.recipients.push(address.to_owned());
            Some("250 OK\r\n".into())
        } else if command == "DATA" {
            self.data().await
        } else if command == "QUIT" {
            let _ = self.send("221 bye\r\n").await;
            None
        } else if command == "RSET" || command == "NOOP" {
            Some("250 OK\r\n".into())
        } else {
            Some("502 not implemented\r\n".into())
        }
    }

    /// DATA: the message up to its lone `.`, kept unless the script refuses it, and the scripted
    /// reply to its end.
    async fn data(&mut self) -> Option<String> {
        self.send("354 end with .\r\n").await.ok()?;
        let raw = self.read_message().await?;
        let reply = self.keep(raw);
        self.arrived.notify_waiters();
        match reply {
            Some(Reply::Refuse(code, text)) => Some(format!("{code} {text}\r\n")),
            Some(Reply::Stall) => {
                self.hold_until_closed().await;
                None
            }
            Some(Reply::Delay(delay)) => {
                tokio::time::sleep(delay).await;
                Some("250 OK queued\r\n".to_owned())
            }
            None => Some("250 OK queued\r\n".to_owned()),
        }
    }

    /// The lines of DATA up to the lone `.`, dot-stuffing undone; `None` if the client went away.
    async fn read_message(&mut self) -> Option<String> {
        let mut raw = String::new();
        loop {
            let line = self.read_line().await?;
            if line == ".\r\n" || line == ".\n" {
                return Some(raw);
            }
            raw.push_str(
                line.strip_prefix('.')
                    .filter(|_| line.starts_with(".."))
                    .unwrap_or(&line),
            );
        }
    }

    /// Counts the attempt, keeps the message unless the script refuses it, and gives the scripted
    /// reply (none: 250 at once).
    fn keep(&mut self, raw: String) -> Option<Reply> {
        let mut state = self.state.lock().unwrap_or_else(|poison| poison.into_inner());
        state.attempts += 1;
        let reply = state.script.pop_front();
        if !matches!(reply, Some(Reply::Refuse(..))) {
            let decoded = quoted_printable::decode(&raw);
            state.messages.push(SinkMessage {
                recipients: std::mem::take(&mut self.recipients),
                raw,
                decoded,
            });
        }
        reply
    }

    /// Holds the connection, unanswered, until the client goes away.
    async fn hold_until_closed(&mut self) {
        let mut rest = String::new();
        while matches!(self.reader.read_line(&mut rest).await, Ok(n) if n > 0) {
            rest.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;

    /// Sends `lines` and returns everything the sink said until it closed the connection.
    async fn converse(sink: &SmtpSink, lines: &[&str]) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", sink.port)).await.unwrap();
        for line in lines {
            stream.write_all(format!("{line}\r\n").as_bytes()).await.unwrap();
        }
        let mut said = String::new();
        stream.read_to_string(&mut said).await.unwrap();
        said
    }

    const ONE_MESSAGE: &[&str] = &[
        "EHLO client",
        "MAIL FROM:<from@example.com>",
        "RCPT TO:<to@example.com>",
        "DATA",
        "Subject: hi",
        "",
        "..leading dot",
        ".",
    ];

    #[tokio::test]
    async fn a_scripted_refusal_keeps_nothing_and_the_next_message_is_kept_unstuffed() {
        let sink = SmtpSink::start().await;
        sink.fail_next(1, 451, "try again later");

        let first = converse(&sink, &[ONE_MESSAGE, &["QUIT"]].concat()).await;
        let second = converse(&sink, &[ONE_MESSAGE, &["NOOP", "VRFY x", "QUIT"]].concat()).await;

        assert_eq!(
            first,
            "220 sink ESMTP ready\r\n250 sink\r\n250 OK\r\n250 OK\r\n354 end with .\r\n\
             451 try again later\r\n221 bye\r\n"
        );
        assert!(
            second.ends_with("250 OK queued\r\n250 OK\r\n502 not implemented\r\n221 bye\r\n"),
            "{second}"
        );
        assert_eq!(sink.attempts(), 2);
        let messages = sink.messages();
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].recipients, ["to@example.com"]);
        assert_eq!(messages[0].raw, "Subject: hi\r\n\r\n.leading dot\r\n");
        assert_eq!(messages[0].subject().as_deref(), Some("hi"));
    }
}
