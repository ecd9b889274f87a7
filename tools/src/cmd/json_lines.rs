//! The `--stdin` mode shared by `price` and `iv`: one JSON object in per line, one JSON
//! line out per input line, in order. A bad line gets `{"error": "..."}` and the run goes
//! on; the exit code says whether any line failed.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use anyhow::Context;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Applies `answer` to every line of `input`, writing results to `output`.
pub fn run<Request, Input, Output>(
    input: Input,
    mut output: Output,
    answer: impl Fn(Request) -> anyhow::Result<Value>,
) -> anyhow::Result<ExitCode>
where
    Request: DeserializeOwned,
    Input: BufRead,
    Output: Write,
{
    let mut failed_lines = 0usize;
    for (index, line) in input.lines().enumerate() {
        let line = line.with_context(|| format!("reading stdin line {}", index + 1))?;
        let result = serde_json::from_str::<Request>(&line)
            .map_err(anyhow::Error::from)
            .and_then(&answer);
        let value = result.unwrap_or_else(|error| {
            failed_lines += 1;
            serde_json::json!({ "error": format!("line {}: {error:#}", index + 1) })
        });
        serde_json::to_writer(&mut output, &value).context("writing stdout")?;
        output.write_all(b"\n").context("writing stdout")?;
    }
    output.flush().context("writing stdout")?;
    if failed_lines > 0 {
        tracing::warn!(failed_lines, "some input lines were rejected");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
