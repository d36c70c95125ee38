fn main() {
    println!("greenlight: server not built yet");
}
