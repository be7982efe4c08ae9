//! A small tokio service on the store: a line protocol over TCP on loopback (`SET key
//! value`, `GET key`, `COUNT`), a task that follows every change through an async
//! watcher, and a client that talks to it and checks the answers. CI runs it:
//!
//! ```text
//! cargo run -p store --features tokio --example async_service
//! ```

use std::future::poll_fn;
use std::pin::pin;

use futures_core::Stream;
use store::{AsyncStore, EventType};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

type Failure = Box<dyn std::error::Error + Send + Sync>;

/// Answers one request line.
async fn answer(store: &AsyncStore, line: &str) -> String {
    let mut words = line.splitn(3, ' ');
    let reply = match (words.next(), words.next(), words.next()) {
        (Some("SET"), Some(key), Some(value)) => {
            store.set("kv", key, value).await.map(|()| "OK".to_owned())
        }
        (Some("GET"), Some(key), None) => store.get("kv", key).await,
        (Some("COUNT"), None, None) => store.count("kv").await.map(|count| count.to_string()),
        _ => return "ERR unknown request".to_owned(),
    };
    reply.unwrap_or_else(|error| format!("ERR {error}"))
}

/// Serves one connection until the client hangs up.
async fn serve(store: AsyncStore, socket: TcpStream) -> Result<(), Failure> {
    let (reader, mut writer) = socket.into_split();
    let mut lines = BufReader::new(reader).lines();
    while let Some(line) = lines.next_line().await? {
        let reply = answer(&store, &line).await;
        writer.write_all(format!("{reply}\n").as_bytes()).await?;
    }
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Failure> {
    let directory = tempfile::tempdir()?;
    let store = AsyncStore::open(directory.path().join("service.db")).await?;

    // Follow every change; the stream ends when the store closes.
    let changes = store.watch("kv", "*");
    let audit = tokio::spawn(async move {
        let mut sets = 0_usize;
        let mut changes = pin!(changes);
        while let Some(event) = poll_fn(|context| changes.as_mut().poll_next(context)).await {
            if event.kind == EventType::Set {
                sets += 1;
            }
        }
        sets
    });

    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let server = {
        let store = store.clone();
        tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    break;
                };
                let store = store.clone();
                tokio::spawn(async move {
                    if let Err(error) = serve(store, socket).await {
                        eprintln!("connection failed: {error}");
                    }
                });
            }
        })
    };

    let socket = TcpStream::connect(address).await?;
    let (reader, mut writer) = socket.into_split();
    let mut replies = BufReader::new(reader).lines();
    let exchanges = [
        ("SET colour blue", "OK"),
        ("SET size 10", "OK"),
        ("GET colour", "blue"),
        ("COUNT", "2"),
        (
            "GET missing",
            r#"ERR store.get: not found: group "kv", key "missing""#,
        ),
    ];
    for (request, expected) in exchanges {
        writer.write_all(format!("{request}\n").as_bytes()).await?;
        let reply = replies.next_line().await?.unwrap_or_default();
        println!("{request:<16} -> {reply}");
        if reply != expected {
            return Err(format!("{request}: expected {expected:?}, got {reply:?}").into());
        }
    }
    drop(writer);

    server.abort();
    store.close().await?;
    let sets = audit.await?;
    println!("the watcher saw {sets} sets before the store closed");
    if sets != 2 {
        return Err(format!("expected 2 sets, saw {sets}").into());
    }
    Ok(())
}
