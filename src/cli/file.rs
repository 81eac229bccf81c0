//! The config file (`--config FILE`, TOML): every flag of `mine` and `bench`, under
//! `[mine]` and `[bench]`, the logging flags at the top. A key is a flag's long name (`_` or
//! `-`); a list repeats the flag (`pool = [...]` in failover order); `true` sets a switch.
//! Flags on the command line override the file. Unknown keys and bad values are errors that
//! name the key. Secrets can stay out of the file: their environment variables
//! (HASHRIG_POOL_PASSWORD, HASHRIG_RPC_PASSWORD, HASHRIG_API_TOKEN) work as always.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::CommandFactory;

use super::args::Cli;

/// What went wrong with a config file.
/// Each names the file and the key (`hashrig.toml: mine.kernal: unknown key (did you mean
/// `kernel`?)`).
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("--config needs a FILE")]
    NoFile,
    #[error("{file}: {reason}", file = file.display())]
    Read { file: PathBuf, reason: String },
    #[error("{file}: {key}: unknown key{hint}", file = file.display(), hint = suggestion(near))]
    UnknownKey {
        file: PathBuf,
        key: String,
        /// The nearest known key, if one is close.
        near: Option<String>,
    },
    #[error("{file}: {key}: {reason}", file = file.display())]
    BadValue {
        file: PathBuf,
        key: String,
        reason: String,
    },
}

fn suggestion(near: &Option<String>) -> String {
    near.as_ref()
        .map(|n| format!(" (did you mean `{n}`?)"))
        .unwrap_or_default()
}

/// The known key nearest to `key`, when it is close enough to be a typo of it.
fn nearest<'a>(key: &str, known: impl IntoIterator<Item = &'a str>) -> Option<String> {
    known
        .into_iter()
        .map(|k| (strsim::jaro_winkler(key, k), k))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k.to_string())
}

/// The keys allowed at the top of the file (global flags).
const GLOBAL: [&str; 4] = ["verbose", "quiet", "log-format", "log-file"];
/// Sections: subcommands whose flags a file may hold.
const SECTIONS: [&str; 2] = ["mine", "bench"];

/// Where `--config FILE` / `--config=FILE` points in `argv`, and `argv` without it.
pub fn take_config_flag(
    argv: Vec<OsString>,
) -> Result<(Option<PathBuf>, Vec<OsString>), FileError> {
    let mut out = Vec::with_capacity(argv.len());
    let mut file = None;
    let mut it = argv.into_iter();
    while let Some(a) = it.next() {
        let s = a.to_string_lossy();
        if s == "--" {
            out.push(a);
            out.extend(it);
            break;
        }
        if s == "--config" {
            file = Some(PathBuf::from(it.next().ok_or(FileError::NoFile)?));
        } else if let Some(path) = s.strip_prefix("--config=") {
            file = Some(PathBuf::from(path));
        } else {
            out.push(a);
        }
    }
    Ok((file, out))
}

fn long_names(sub: Option<&str>) -> Vec<String> {
    let cmd = Cli::command();
    let args: Vec<clap::Arg> = match sub {
        Some(name) => cmd
            .find_subcommand(name)
            .map(|c| c.get_arguments().cloned().collect())
            .unwrap_or_default(),
        None => cmd.get_arguments().cloned().collect(),
    };
    // Hidden flags are testing aids: not config keys.
    args.iter()
        .filter(|a| !a.is_hide_set())
        .filter_map(|a| a.get_long().map(str::to_string))
        .filter(|l| l != "help" && l != "version" && l != "config")
        .collect()
}

/// The flags a value of key `key` stands for.
fn flag_args(file: &Path, key: &str, value: &toml::Value) -> Result<Vec<OsString>, FileError> {
    let flag = format!("--{key}");
    let bad = |reason: &str| FileError::BadValue {
        file: file.to_path_buf(),
        key: key.to_string(),
        reason: reason.to_string(),
    };
    let scalar = |v: &toml::Value| -> Result<String, FileError> {
        match v {
            toml::Value::String(s) => Ok(s.clone()),
            toml::Value::Integer(i) => Ok(i.to_string()),
            toml::Value::Float(f) => Ok(f.to_string()),
            _ => Err(bad("expected a string or a number")),
        }
    };
    Ok(match value {
        toml::Value::Boolean(true) if key == "verbose" => vec![flag.into()],
        toml::Value::Integer(n @ 0..=3) if key == "verbose" => {
            (0..*n).map(|_| OsString::from("-v")).collect()
        }
        _ if key == "verbose" => return Err(bad("must be 0 to 3, or true")),
        toml::Value::Boolean(true) => vec![flag.into()],
        toml::Value::Boolean(false) => vec![],
        toml::Value::Array(items) => {
            let mut out = Vec::new();
            for item in items {
                out.push(OsString::from(&flag));
                out.push(scalar(item)?.into());
            }
            out
        }
        v => vec![flag.into(), scalar(v)?.into()],
    })
}

fn given(argv: &[OsString], key: &str) -> bool {
    let flag = format!("--{key}");
    argv.iter().any(|a| {
        let a = a.to_string_lossy();
        a == flag
            || a.starts_with(&format!("{flag}="))
            || (key == "verbose" && (a == "-v" || a == "-vv" || a == "-vvv"))
            || (key == "quiet" && a == "-q")
    })
}

/// Reads `file` and merges it under `argv` (program name first): the file's keys become
/// flags placed right after the subcommand, unless the command line already has them.
pub fn merge(file: &Path, argv: Vec<OsString>) -> Result<Merged, FileError> {
    let text = std::fs::read_to_string(file).map_err(|e| FileError::Read {
        file: file.to_path_buf(),
        reason: e.to_string(),
    })?;
    merge_keyed(file, &text, argv)
}

impl Merged {
    /// `message` (an error about flag `--NAME ...`) told as the file's: `FILE: section.key:
    /// ...` when the flag came from the file, else unchanged.
    pub fn name_key(&self, file: &Path, message: &str) -> String {
        let Some(rest) = message.strip_prefix("--") else {
            return message.to_string();
        };
        let end = rest.find([' ', ':', '=']).unwrap_or(rest.len());
        let flag = &rest[..end];
        match self.keys.iter().find(|(f, _)| f == flag) {
            Some((_, key)) => {
                let tail = rest[end..].trim_start_matches(':').trim_start();
                format!("{}: {key}: {tail}", file.display())
            }
            None => message.to_string(),
        }
    }
}

/// The command line with the file merged in, and which flags came from which keys.
pub struct Merged {
    pub argv: Vec<OsString>,
    /// (flag's long name, `section.key` as written in the file) for every flag the file set.
    pub keys: Vec<(String, String)>,
}

/// [`merge`] of the file's `text` (named `file` in errors), keeping where each flag came
/// from. No I/O: the fuzzers feed it anything.
pub fn merge_keyed(file: &Path, text: &str, argv: Vec<OsString>) -> Result<Merged, FileError> {
    let mut keys = Vec::new();
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| FileError::Read {
        file: file.to_path_buf(),
        reason: e.to_string(),
    })?;
    let sub_at = argv
        .iter()
        .position(|a| SECTIONS.contains(&a.to_string_lossy().as_ref()));
    let sub = sub_at.map(|i| argv[i].to_string_lossy().into_owned());
    let mut global_args = Vec::new();
    let mut sub_args = Vec::new();
    for (key, value) in &table {
        let norm = key.replace('_', "-");
        if let toml::Value::Table(section) = value {
            if !SECTIONS.contains(&norm.as_str()) {
                return Err(FileError::UnknownKey {
                    file: file.to_path_buf(),
                    key: key.clone(),
                    near: nearest(&norm, SECTIONS),
                });
            }
            let names = long_names(Some(&norm));
            for (k, v) in section {
                let k_norm = k.replace('_', "-");
                if !names.contains(&k_norm) {
                    return Err(FileError::UnknownKey {
                        file: file.to_path_buf(),
                        key: format!("{norm}.{k}"),
                        near: nearest(&k_norm, names.iter().map(String::as_str)),
                    });
                }
                if sub.as_deref() == Some(norm.as_str()) && !given(&argv, &k_norm) {
                    keys.push((k_norm.clone(), format!("{norm}.{k}")));
                    sub_args.extend(flag_args(file, &k_norm, v).map_err(|e| match e {
                        FileError::BadValue { file, reason, .. } => FileError::BadValue {
                            file,
                            key: format!("{norm}.{k}"),
                            reason,
                        },
                        e => e,
                    })?);
                }
            }
        } else {
            if !GLOBAL.contains(&norm.as_str()) {
                return Err(FileError::UnknownKey {
                    file: file.to_path_buf(),
                    key: key.clone(),
                    near: nearest(&norm, GLOBAL),
                });
            }
            if !given(&argv, &norm) {
                keys.push((norm.clone(), key.clone()));
                global_args.extend(flag_args(file, &norm, value)?);
            }
        }
    }
    let mut out = Vec::with_capacity(argv.len() + sub_args.len() + global_args.len());
    match sub_at {
        Some(i) => {
            out.extend_from_slice(&argv[..=i]);
            out.extend(global_args);
            out.extend(sub_args);
            out.extend_from_slice(&argv[i + 1..]);
        }
        None => {
            out.extend(argv);
            out.extend(global_args);
        }
    }
    Ok(Merged { argv: out, keys })
}

/// Names the file key behind a clap error about one of the file's flags.
pub fn explain(file: &Path, merged: &Merged, error: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue};
    let ContextValue::String(arg) = error.get(ContextKind::InvalidArg)? else {
        return None;
    };
    let long = arg
        .strip_prefix("--")?
        .split([' ', '='])
        .next()?
        .to_string();
    let value = match error.get(ContextKind::InvalidValue) {
        Some(ContextValue::String(v)) => format!(" {v:?}"),
        _ => String::new(),
    };
    let key = &merged.keys.iter().find(|(f, _)| *f == long)?.1;
    Some(format!(
        "{}: {key}: invalid value{value} ({})",
        file.display(),
        error.kind()
    ))
}

/// `hashrig config example`: every section, commented; it parses and passes `config check`.
pub const EXAMPLE: &str = r#"# hashrig configuration (TOML). Every key is a flag of the command its section is
# named after (`hashrig mine --help`); flags given on the command line win over the file.
# Secrets can stay out of this file: HASHRIG_POOL_PASSWORD, HASHRIG_RPC_PASSWORD and
# HASHRIG_API_TOKEN are read from the environment.

# Logging: verbose = 0..3 (or -v), quiet = true, log_format = "text" | "json", log_file = "..."
log_format = "text"

[mine]
# Pools in failover order: Stratum v1 (stratum+tcp://, stratum+ssl://) and Stratum V2
# (stratum2+tcp://HOST:PORT/AUTHORITY_KEY) may be mixed.
pool = [
  "stratum2+tcp://127.0.0.1:34254/9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72",
  "stratum+tcp://127.0.0.1:34255",
]
user = "account.worker"
# password = "x"            # or HASHRIG_POOL_PASSWORD
pool_timeout = 30
pool_idle = 180
pool_failback = 60
# suggest_difficulty = 0.01
# sv2_channel = "standard"  # or "extended"
# hashrate = "80M"

# Job declaration (your node's templates, the pool's payout): node, one stratum2+tcp pool,
# its JDS, user, and payout for the solo fallback.
# jds = "stratum2+tcp://127.0.0.1:34264/9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72"

# Solo mining instead of a pool (give node and leave pool out):
# node = "http://127.0.0.1:8332"
# rpc_cookie = "/home/me/.bitcoin/.cookie"
# payout = "bc1q..."
# journal = "hashrig-found-blocks.jsonl"

# Proof of work: "sha256d" (Bitcoin) or "scrypt" (Litecoin, Dogecoin; a Litecoin node needs it).
# algo = "sha256d"

# Backends: "auto" (every hardware GPU and the CPU), "cpu", "gpu" or "all".
backend = "auto"
# threads = 8
# kernel = "avx512"
# gpu = "0"
gpu_kernel_ms = 50
# lookup_gap = 8            # scrypt on GPUs (bench --sweep --algo scrypt measures each)

# The monitoring API (off unless given): JSON, Prometheus /metrics and a dashboard at /.
api = "127.0.0.1:8420"
# cgminer's API for farm monitors (off unless given; JSON over TCP, read-only).
# api_cgminer = "127.0.0.1:4028"

[bench]
seconds = 1.0
rounds = 3
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_config_flag_is_taken_out() {
        let (f, rest) =
            take_config_flag(argv(&["hashrig", "mine", "--config", "a.toml", "-v"])).unwrap();
        assert_eq!(f, Some(PathBuf::from("a.toml")));
        assert_eq!(rest, argv(&["hashrig", "mine", "-v"]));
        let (f, _) = take_config_flag(argv(&["hashrig", "--config=b.toml", "mine"])).unwrap();
        assert_eq!(f, Some(PathBuf::from("b.toml")));
    }
}
