//! Why the platform did not start: one line naming the problem and what to do about it.

/// A start that could not go on. Its message is complete on its own (the cause is in it), because it
/// is all a person sees: `error: <message>`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartError(String);

impl StartError {
    pub fn new(message: impl Into<String>) -> StartError {
        StartError(message.into())
    }
}

impl From<anyhow::Error> for StartError {
    /// A service that refused to start: its own message, on one line.
    fn from(error: anyhow::Error) -> StartError {
        StartError(format!("{error:#}"))
    }
}
