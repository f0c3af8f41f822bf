use gpt2::train::{TrainConfig, Trainer};
use gpt2::{GPT, GPTConfig, Tokenizer};
use std::time::Instant;
fn main() {
    let tok = Tokenizer::gpt2().unwrap();
    let ids = gpt2::data::load_tokens(&gpt2::data::default_text_path(), &tok).unwrap();
    let (tr, va) = gpt2::data::split(&ids, 0.1);
    let model = GPT::new(GPTConfig::preset("shakespeare").unwrap(), 1);
    let mut t = Trainer::new(model, tr.to_vec(), va.to_vec(), TrainConfig::default()).unwrap();
    for i in 0..12 {
        let s = Instant::now();
        let st = t.step().unwrap();
        println!(
            "step {i} loss {:.3} {:.3}s",
            st.loss,
            s.elapsed().as_secs_f64()
        );
    }
    if std::env::var_os("VAL").is_some() {
        let s = Instant::now();
        let v = t.val_loss().unwrap();
        println!("val {:?} {:.2}s", v, s.elapsed().as_secs_f64());
    }
}
