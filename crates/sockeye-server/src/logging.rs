//! The log output on stderr: `--log-level` and `--log-format`.

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Human-readable lines, each with the spans it happened in
    /// (`socket{sid=... ns=/ ...}: event`).
    Text,
    /// One JSON object a line (tracing-subscriber's JSON formatter): `fields`, `target`,
    /// `span` (the innermost: the client's connection or socket) and `spans`.
    Json,
}

/// Installs the subscriber for the process.
pub fn init(level: tracing::Level, format: Format) {
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr);
    match format {
        Format::Text => builder.init(),
        Format::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .init(),
    }
}
