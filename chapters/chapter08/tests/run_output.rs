//! The runs shown in the book are what the exercise binary prints today: the bf16 comparison up
//! to the last digits (which may differ from one CPU to another), the matrix multiply's table
//! row for row (its timings are this machine's, measured, not checked).

/// Runs `chapter08 ARGS` in a fresh folder and checks that it prints the book's copy of `file`
/// (under book/), made from the kept runs alone, to the last digit.
fn prints_the_book_copy(args: &[&str], file: &str) {
    let dir = tempfile::tempdir().unwrap();
    let printed = bookcheck::run(env!("CARGO_BIN_EXE_chapter08"), args, dir.path());
    bookcheck::assert_book_copy(printed.as_bytes(), file);
}

#[test]
fn book_shows_the_bf16_comparison() {
    let dir = tempfile::tempdir().unwrap();
    let printed = bookcheck::run(env!("CARGO_BIN_EXE_chapter08"), &["bf16"], dir.path());
    bookcheck::assert_book_copy_approx(&printed, "runs/ch08-bf16.txt", 1e-3, 0.02);
}

#[test]
fn book_shows_the_matrix_multiply_table() {
    let dir = tempfile::tempdir().unwrap();
    let printed = bookcheck::run(env!("CARGO_BIN_EXE_chapter08"), &["matmul"], dir.path());
    // Words equal, numbers free: the timings are measured, not reproduced.
    bookcheck::assert_book_copy_words(&printed, "runs/ch08-matmul.txt");
    let figure = dir.path().join("target/figures/ch08-matmul.svg");
    assert!(std::fs::metadata(&figure).unwrap().len() > 1000);
    if std::env::var_os("UPDATE_RUNS").is_some() {
        std::fs::copy(
            &figure,
            bookcheck::root().join("book/figures/ch08-matmul.svg"),
        )
        .unwrap();
    }
}

#[test]
fn book_shows_exercise_1s_table_of_one_thread_and_all() {
    let dir = tempfile::tempdir().unwrap();
    let printed = bookcheck::run(env!("CARGO_BIN_EXE_chapter08"), &["threads"], dir.path());
    // Words equal, numbers free: the timings are measured, not reproduced.
    bookcheck::assert_book_copy_words(&printed, "runs/ch08-threads.txt");
}

#[test]
fn book_shows_the_orders_table() {
    let dir = tempfile::tempdir().unwrap();
    let printed = bookcheck::run(env!("CARGO_BIN_EXE_chapter08"), &["orders"], dir.path());
    // Words equal, numbers free: the timings are measured, not reproduced.
    bookcheck::assert_book_copy_words(&printed, "runs/ch08-orders.txt");
}

#[test]
fn book_shows_the_line_counts() {
    prints_the_book_copy(&["lines"], "runs/ch08-lines.txt");
}

#[test]
fn book_shows_the_versions_table() {
    let dir = tempfile::tempdir().unwrap();
    let printed = bookcheck::run(env!("CARGO_BIN_EXE_chapter08"), &["versions"], dir.path());
    // Words equal, numbers free: every number of this run is a timing, measured, not reproduced.
    bookcheck::assert_book_copy_words(&printed, "runs/ch08-versions.txt");
}

#[test]
fn book_shows_the_data_parallel_runs_and_the_cost_model_drawn_from_them() {
    let dir = tempfile::tempdir().unwrap();
    let printed = bookcheck::run(env!("CARGO_BIN_EXE_chapter08"), &["ddp"], dir.path());
    // Made from the kept logs and bench output alone: the same to the last digit.
    bookcheck::assert_book_copy(printed.as_bytes(), "runs/ch08-ddp.txt");
    let figure = std::fs::read(dir.path().join("target/figures/ch08-ddp-model.svg")).unwrap();
    bookcheck::assert_book_copy(&figure, "figures/ch08-ddp-model.svg");
}

#[test]
fn book_shows_the_quantized_weights_table_and_figure_drawn_from_the_runs() {
    let dir = tempfile::tempdir().unwrap();
    let printed = bookcheck::run(env!("CARGO_BIN_EXE_chapter08"), &["quant"], dir.path());
    // Made from the kept bench, eval and llama-bench outputs alone: the same to the last digit.
    bookcheck::assert_book_copy(printed.as_bytes(), "runs/ch08-quant.txt");
    let figure = std::fs::read(dir.path().join("target/figures/ch08-quant.svg")).unwrap();
    bookcheck::assert_book_copy(&figure, "figures/ch08-quant.svg");
}

#[test]
fn book_shows_the_xeon_amx_quantized_weights_table_drawn_from_its_rounds() {
    prints_the_book_copy(&["quant", "xeon-amx"], "runs/xeon-amx/ch08-quant.txt");
}

#[test]
fn book_shows_the_zen5_quantized_weights_table_drawn_from_its_rounds() {
    prints_the_book_copy(&["quant", "zen5"], "runs/zen5/ch08-quant.txt");
}

#[test]
fn int8_costs_the_trained_model_less_than_a_hundredth_of_a_nat() {
    // Issue's bound, on the default run's validation split (book/runs/ch08-quant-eval.jsonl).
    let runs = bookcheck::root().join("book/runs");
    let rows = chapter08::quant::rows(
        &[&runs.join("ch08-quant-bench-1.json")],
        &runs.join("ch08-quant-eval.jsonl"),
        &[],
    )
    .unwrap();
    let loss = |name: &str| rows.iter().find(|r| r.name == name).unwrap().loss;
    assert!((loss("int8") - loss("f32")).abs() < 0.01);
    // The f32 evaluation is the run's own last validation loss (chapter 6's log).
    let log = chapter06::run_log::RunLog::read(&runs.join("ch06-train.jsonl")).unwrap();
    let last = chapter08::seeds::last_val(&log) as f64;
    assert!(
        (loss("f32") - last).abs() < 5e-4,
        "{} against {last}",
        loss("f32")
    );
}

#[test]
fn book_shows_the_side_by_side_table_drawn_from_the_rounds() {
    // Made from the kept outputs of gpt2 bench and PyTorch alone: the same to the last digit.
    prints_the_book_copy(&["side-by-side"], "runs/ch08-side-by-side.txt");
}

#[test]
fn book_shows_the_zen5_side_by_side_table_drawn_from_its_rounds() {
    prints_the_book_copy(&["side-by-side", "zen5"], "runs/zen5/ch08-side-by-side.txt");
}

#[test]
fn book_shows_the_xeon_amx_side_by_side_table_drawn_from_its_rounds() {
    prints_the_book_copy(
        &["side-by-side", "xeon-amx"],
        "runs/xeon-amx/ch08-side-by-side.txt",
    );
}

#[test]
fn on_amx_the_f32_run_loses_the_same_and_the_bf16_run_parts_at_step_74() {
    use chapter06::run_log::RunLog;
    let runs = bookcheck::root().join("book/runs");
    let read = |folder: &str, file: &str| RunLog::read(&runs.join(folder).join(file)).unwrap();
    let train =
        |log: &RunLog| -> Vec<(usize, f32)> { log.steps.iter().map(|s| (s.0, s.1)).collect() };
    let val = |log: &RunLog| -> Vec<(usize, f32)> { log.val.iter().map(|v| (v.0, v.1)).collect() };
    let (f32_amx, f32_zen4) = (
        read("xeon-amx", "f32-1337.jsonl"),
        read("ch08-seeds", "f32-1337.jsonl"),
    );
    assert_eq!(
        train(&f32_amx),
        train(&f32_zen4),
        "f32: the training losses differ"
    );
    assert_eq!(
        val(&f32_amx),
        val(&f32_zen4),
        "f32: the validation losses differ"
    );
    // bf16: AMX sums each product in another order than vdpbf16ps.
    let (bf16_amx, bf16_zen4) = (
        read("xeon-amx", "bf16-1337.jsonl"),
        read("ch08-seeds", "bf16-1337.jsonl"),
    );
    let parted = train(&bf16_amx)
        .iter()
        .zip(train(&bf16_zen4))
        .find(|(a, b)| (a.1 - b.1).abs() > 0.001)
        .map(|(a, _)| a.0);
    assert_eq!(parted, Some(74));
    let last = |log: &RunLog| log.val.last().unwrap().1;
    let gap = last(&bf16_amx) - last(&f32_amx);
    assert!((gap - 0.010).abs() < 0.0005, "the gap is {gap}");
    // (run, step and minutes to a validation loss of 4.94, as chapter 8 says)
    for (log, step, minutes) in [(&bf16_amx, 799, 2.0), (&f32_amx, 799, 2.7)] {
        let (reached, seconds) = chapter08::seeds::time_to(log, 4.94).unwrap();
        assert_eq!(reached, step);
        assert!((seconds / 60.0 - minutes).abs() < 0.05, "{seconds} s");
    }
}

#[test]
fn on_zen5_the_f32_run_loses_as_on_zen4_and_both_reach_4_94_sooner() {
    use chapter06::run_log::RunLog;
    let runs = bookcheck::root().join("book/runs");
    let read = |folder: &str, file: &str| RunLog::read(&runs.join(folder).join(file)).unwrap();
    let train =
        |log: &RunLog| -> Vec<(usize, f32)> { log.steps.iter().map(|s| (s.0, s.1)).collect() };
    let val = |log: &RunLog| -> Vec<(usize, f32)> { log.val.iter().map(|v| (v.0, v.1)).collect() };
    let (f32_zen5, f32_zen4) = (
        read("zen5", "f32-1337.jsonl"),
        read("ch08-seeds", "f32-1337.jsonl"),
    );
    assert_eq!(
        train(&f32_zen5),
        train(&f32_zen4),
        "f32: the training losses differ"
    );
    assert_eq!(
        val(&f32_zen5),
        val(&f32_zen4),
        "f32: the validation losses differ"
    );
    // bf16: the Zen 4 log is older than the LM head's backward pass in slices, which sums dlnf
    // in another order; the first update already differs.
    let (bf16_zen5, bf16_zen4) = (
        read("zen5", "bf16-1337.jsonl"),
        read("ch08-seeds", "bf16-1337.jsonl"),
    );
    let (zen5, zen4) = (train(&bf16_zen5), train(&bf16_zen4));
    assert_eq!(
        zen5[0], zen4[0],
        "bf16: the first loss, before any update, differs"
    );
    assert_ne!(zen5[1], zen4[1]);
    let parted = zen5
        .iter()
        .zip(&zen4)
        .find(|(a, b)| (a.1 - b.1).abs() > 0.001)
        .map(|(a, _)| a.0);
    assert_eq!(parted, Some(65));
    let last = |log: &RunLog| log.val.last().unwrap().1;
    let gap = last(&bf16_zen5) - last(&f32_zen5);
    assert!((gap - 0.023).abs() < 0.0005, "the gap is {gap}");
    // (run, step and minutes to a validation loss of 4.94 on Zen 5, as chapter 8 says)
    for (here, there, step, minutes) in [
        (&bf16_zen5, &bf16_zen4, 899, 1.7),
        (&f32_zen5, &f32_zen4, 799, 2.4),
    ] {
        let (reached, seconds) = chapter08::seeds::time_to(here, 4.94).unwrap();
        assert_eq!(reached, step);
        assert!((seconds / 60.0 - minutes).abs() < 0.05, "{seconds} s");
        let (_, elsewhere) = chapter08::seeds::time_to(there, 4.94).unwrap();
        assert!(seconds < elsewhere, "{seconds} s against {elsewhere} s");
    }
}
