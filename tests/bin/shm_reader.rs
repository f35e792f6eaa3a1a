//! A client process for the robustness tests: attaches an arena, starts a `GetMany` over the
//! URIs given on the command line, keeps every payload (never releasing), prints `streaming`
//! after the first one, then waits to be killed.
//!
//! Usage: shm-reader SOCKET ARENA_BYTES URI...

use futures::StreamExt;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let socket = std::path::PathBuf::from(&args[0]);
    let arena: u64 = args[1].parse().expect("arena size");
    let client = s3dlio_client::Client::connect(Some(&socket), Some("shm-reader"))
        .await
        .expect("connect");
    let shm = client.attach(arena).await.expect("attach");
    let items = args[2..]
        .iter()
        .enumerate()
        .map(|(i, u)| (i as u64, u.clone(), None))
        .collect();
    let mut stream = shm.get_many(items, 8).await.expect("get_many");
    let mut held = Vec::new();
    while let Some(item) = stream.next().await {
        held.push(item.expect("stream").result.expect("item"));
        if held.len() == 1 {
            println!("streaming");
        }
    }
    println!("done");
    std::future::pending::<()>().await;
}
