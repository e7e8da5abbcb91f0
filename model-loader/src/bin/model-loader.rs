//! `model-loader`: host command-line tool (`inspect`, ...).

fn main() {
    eprintln!("model-loader: no commands yet");
    std::process::exit(2);
}
