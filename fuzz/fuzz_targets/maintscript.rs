#![no_main]
//! A maintainer script walked against an image that knows a few files and echoes the commands
//! it runs: the walk ends (budgets on depth and loops), whatever the script says.
use libfuzzer_sys::fuzz_target;
use staves_maintscript::{FileTest, Image, Invocation, Ran, Status};

struct Echo(Vec<String>);

impl Image for Echo {
    fn run(&mut self, argv: &[String], _stdin: Option<&str>) -> Option<Ran> {
        self.0.push(argv.join(" "));
        Some(Ran {
            status: Status::Success,
            stdout: Some(argv.join(" ")),
        })
    }
    fn unmodelled(&mut self, argv: &[String]) {
        self.0.push(argv.join(" "));
    }
    fn debconf(&self, _question: &str) -> Option<String> {
        Some(String::new())
    }
    fn test(&self, path: &str, _test: FileTest) -> Option<bool> {
        Some(path.starts_with("/etc"))
    }
    fn glob(&self, _pattern: &str) -> Option<Vec<String>> {
        Some(vec!["/etc/a".into(), "/etc/b".into()])
    }
    fn read(&self, path: &str) -> Option<String> {
        path.starts_with("/etc").then(|| "a line\nanother: line\n".to_owned())
    }
    fn write(&mut self, _path: &str, _text: &str, _append: bool) -> Status {
        Status::Success
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(script) = std::str::from_utf8(data) else {
        return;
    };
    let mut image = Echo(Vec::new());
    let _ = staves_maintscript::run(script, &Invocation::first_configure("fuzz", "amd64"), &mut image);
});
