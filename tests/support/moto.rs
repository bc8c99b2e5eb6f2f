//! One moto server per test process, started on first use on a free loopback port.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};

pub struct Moto {
    pub endpoint: String,
    // Holds the pipe to moto's stdin: when this process exits the pipe closes and moto stops.
    _child: Mutex<Child>,
}

/// The Python that has moto: `CFN_CHATOPS_TEST_PYTHON`, else the project's `.venv`, else python3.
pub fn python() -> String {
    if let Ok(python) = std::env::var("CFN_CHATOPS_TEST_PYTHON") {
        return python;
    }
    let venv = concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/python");
    if Path::new(venv).exists() {
        venv.to_owned()
    } else {
        "python3".to_owned()
    }
}

pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/moto_server.py");
        let mut child = Command::new(python())
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto (run the tests through scripts/test, which installs it)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("moto stdout"))
            .read_line(&mut line)
            .expect("read moto's port");
        let port: u16 = line.trim().parse().unwrap_or_else(|_| {
            panic!("moto did not print its port (got {line:?}); is moto[server] installed?")
        });
        Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            _child: Mutex::new(child),
        }
    })
}
