//! A test guest: echoes of every WIT type, floods, panics and probes of the
//! deny-by-default sandbox. Built by `host/build.rs`; used by host tests only.

// The glue wit-bindgen generates is `unsafe`; the code written here has none.
#![allow(unsafe_code, clippy::too_many_arguments)]

// The wfhost WIT package first, then this module's own.
wfhost_sdk::generate!(world: "wfhost-test:kitchen-sink/kitchen-sink", path: ["../../../wit", "wit"]);

use exports::wfhost_test::kitchen_sink::echoes::{self, Color, Perms, Point, Shape};
use wfhost_sdk::log;

struct KitchenSink;

impl echoes::Guest for KitchenSink {
    fn echo_bool(v: bool) -> bool {
        v
    }
    fn echo_s8(v: i8) -> i8 {
        v
    }
    fn echo_u8(v: u8) -> u8 {
        v
    }
    fn echo_s16(v: i16) -> i16 {
        v
    }
    fn echo_u16(v: u16) -> u16 {
        v
    }
    fn echo_s32(v: i32) -> i32 {
        v
    }
    fn echo_u32(v: u32) -> u32 {
        v
    }
    fn echo_s64(v: i64) -> i64 {
        v
    }
    fn echo_u64(v: u64) -> u64 {
        v
    }
    fn echo_f32(v: f32) -> f32 {
        v
    }
    fn echo_f64(v: f64) -> f64 {
        v
    }
    fn echo_char(v: char) -> char {
        v
    }
    fn echo_string(v: String) -> String {
        v
    }
    fn echo_bytes(v: Vec<u8>) -> Vec<u8> {
        v
    }
    fn echo_list(v: Vec<String>) -> Vec<String> {
        v
    }
    fn echo_record(v: Point) -> Point {
        v
    }
    fn echo_tuple(v: (u8, String, bool)) -> (u8, String, bool) {
        v
    }
    fn echo_variant(v: Shape) -> Shape {
        v
    }
    fn echo_enum(v: Color) -> Color {
        v
    }
    fn echo_option(v: Option<u32>) -> Option<u32> {
        v
    }
    fn echo_nested_option(v: Option<Option<u32>>) -> Option<Option<u32>> {
        v
    }
    fn echo_result(v: Result<String, u32>) -> Result<String, u32> {
        v
    }
    fn echo_results(v: Vec<Result<String, u32>>) -> Vec<Result<String, u32>> {
        v
    }
    fn echo_flags(v: Perms) -> Perms {
        v
    }
    fn echo_points(v: Vec<Point>) -> Vec<Point> {
        v
    }

    fn describe(name: String, age: Option<u8>, tags: Option<Vec<String>>) -> String {
        let age = age.map_or("unknown age".to_string(), |age| format!("{age} years"));
        let tags = tags.map_or("no tags".to_string(), |tags| tags.join(","));
        format!("{name}, {age}, {tags}")
    }
}

impl Guest for KitchenSink {
    #[allow(clippy::print_stdout)]
    fn flood_stdout(megabytes: u32) -> u32 {
        use std::io::Write;
        let chunk = vec![b'x'; 1 << 20];
        let mut stdout = std::io::stdout();
        for _ in 0..megabytes {
            // The host accepts every write; it keeps only the first bytes.
            stdout.write_all(&chunk).expect("stdout accepts writes");
        }
        stdout.flush().expect("stdout flushes");
        megabytes
    }

    fn flood_logs(lines: u32) -> u32 {
        for i in 0..lines {
            log::info(format!("log line {i}"));
        }
        lines
    }

    fn chatty() -> String {
        log::trace("a trace line");
        log::debug("a debug line");
        log::info("an info line");
        log::warn("a warn line");
        log::with_fields(
            log::Level::Error,
            "an error line",
            &[("file", "src/lib.rs"), ("line", "7")],
        );
        wfhost_sdk::progress(3, Some(4), "almost there");
        "done".to_string()
    }

    fn panic(message: String) {
        panic!("{message}");
    }

    fn allocate(megabytes: u32) -> Result<u32, ActionError> {
        let mut blocks = Vec::new();
        for _ in 0..megabytes {
            let mut block = vec![0u8; 1 << 20];
            block[0] = 1;
            blocks.push(block);
        }
        Ok(blocks.iter().map(|block| u32::from(block[0])).sum())
    }

    fn checksum(rounds: u32) -> u64 {
        // FNV-1a over a buffer that changes every round: integer work with
        // loads, stores and branches, like real guest code.
        let mut buffer: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for round in 0..rounds {
            for byte in &mut buffer {
                hash ^= u64::from(*byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
                *byte = byte.wrapping_add(round as u8);
            }
        }
        hash
    }

    fn env_var(name: String) -> Option<String> {
        std::env::var(name).ok()
    }

    fn read_file(path: String) -> Result<String, String> {
        std::fs::read_to_string(&path).map_err(|error| error.to_string())
    }

    fn write_file(path: String, contents: String) -> Result<(), String> {
        std::fs::write(&path, contents).map_err(|error| error.to_string())
    }

    fn fs_op(op: String, path: String, arg: Option<String>) -> Result<String, String> {
        fs_op(&op, &path, arg.as_deref()).map_err(|error| error.to_string())
    }

    fn run(
        program: String,
        args: Vec<String>,
        cwd: Option<String>,
        timeout_ms: Option<u64>,
    ) -> Result<String, wfhost_sdk::ActionError> {
        let mut command = wfhost_sdk::process::Command::new(program).args(args);
        if let Some(cwd) = cwd {
            command = command.cwd(cwd);
        }
        if let Some(timeout_ms) = timeout_ms {
            command = command.timeout_ms(timeout_ms);
        }
        let output = command.run().map_err(|error| error.to_action_error())?;
        Ok(format!(
            "{{\"exit_code\":{},\"timed_out\":{},\"truncated\":{},\"stdout_len\":{},\"stdout\":{:?},\"stderr\":{:?}}}",
            output
                .exit_code
                .map_or("null".to_string(), |c| c.to_string()),
            output.timed_out,
            output.truncated,
            output.stdout.len(),
            if output.stdout.len() > 4096 {
                ""
            } else {
                output.stdout.as_str()
            },
            output.stderr
        ))
    }

    /// Through `wasi:sockets` directly: Rust 1.95's `std::net::TcpStream`
    /// traps on wasm32-wasip2 (a `connect` signature mismatch with wasi-libc).
    fn connect(address: String) -> Result<(), String> {
        use wasip2::sockets::instance_network::instance_network;
        use wasip2::sockets::network::{
            ErrorCode, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress,
        };
        use wasip2::sockets::tcp_create_socket::create_tcp_socket;

        let address: std::net::SocketAddrV4 = address.parse().map_err(|e| format!("{e}"))?;
        let socket = create_tcp_socket(IpAddressFamily::Ipv4).map_err(|e| format!("{e:?}"))?;
        let [a, b, c, d] = address.ip().octets();
        let remote = IpSocketAddress::Ipv4(Ipv4SocketAddress {
            port: address.port(),
            address: (a, b, c, d),
        });
        socket
            .start_connect(&instance_network(), remote)
            .map_err(|e| format!("{e:?}"))?;
        let ready = socket.subscribe();
        loop {
            match socket.finish_connect() {
                Ok(_streams) => return Ok(()),
                Err(ErrorCode::WouldBlock) => ready.block(),
                Err(error) => return Err(format!("{error:?}")),
            }
        }
    }
}

export!(KitchenSink);

/// The body of `fs-op`.
fn fs_op(op: &str, path: &str, arg: Option<&str>) -> std::io::Result<String> {
    use std::io::Write;
    let arg = || {
        arg.ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("`{op}` needs `arg`"),
            )
        })
    };
    let done = || Ok(String::new());
    match op {
        "read" => std::fs::read_to_string(path),
        "write" => std::fs::write(path, arg()?).and_then(|()| done()),
        "append" => std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)?
            .write_all(arg()?.as_bytes())
            .and_then(|()| done()),
        "list" => {
            let mut names: Vec<String> = std::fs::read_dir(path)?
                .map(|entry| entry.map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect::<std::io::Result<_>>()?;
            names.sort();
            Ok(names.join("\n"))
        }
        "mkdir" => std::fs::create_dir_all(path).and_then(|()| done()),
        "remove" => std::fs::remove_file(path).and_then(|()| done()),
        "remove-dir" => std::fs::remove_dir_all(path).and_then(|()| done()),
        "rename" => std::fs::rename(path, arg()?).and_then(|()| done()),
        // `soft_link` is the one stable way to make a symlink on WASI.
        #[allow(deprecated)]
        "symlink" => std::fs::soft_link(arg()?, path).and_then(|()| done()),
        "hardlink" => std::fs::hard_link(arg()?, path).and_then(|()| done()),
        // Swap the directory `path` for a link to `arg` and back, 200 times.
        "swap" => {
            let real = format!("{path}.real");
            for _ in 0..200 {
                std::fs::rename(path, &real)?;
                #[allow(deprecated)]
                std::fs::soft_link(arg()?, path)?;
                std::fs::remove_file(path)?;
                std::fs::rename(&real, path)?;
            }
            done()
        }
        "readlink" => std::fs::read_link(path).map(|target| target.display().to_string()),
        "stat" => std::fs::symlink_metadata(path).map(|meta| {
            let kind = meta.file_type();
            if kind.is_symlink() {
                "link"
            } else if kind.is_dir() {
                "dir"
            } else {
                "file"
            }
            .to_string()
        }),
        other => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("unknown op `{other}`"),
        )),
    }
}
