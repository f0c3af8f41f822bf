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
fn book_shows_the_zen5_rounds_before_the_f32_layout_drawn_from_them() {
    prints_the_book_copy(&["quant", "zen5/rows"], "runs/zen5/rows/ch08-quant.txt");
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

/// Seed 1337's default run in `precision`, as `scripts/bf16_runs.sh` keeps it in `folder` of
/// book/runs (`ch08-seeds` holds Zen 4's).
fn seed_1337(folder: &str, precision: &str) -> chapter06::run_log::RunLog {
    let runs = bookcheck::root().join("book/runs");
    chapter06::run_log::RunLog::read(&runs.join(folder).join(format!("{precision}-1337.jsonl")))
        .unwrap()
}

/// Losses, each with its step.
type Losses = Vec<(usize, f32)>;

/// A run's training losses, then its validation losses.
fn losses(log: &chapter06::run_log::RunLog) -> (Losses, Losses) {
    let train = log.steps.iter().map(|s| (s.0, s.1)).collect();
    (train, log.val.iter().map(|v| (v.0, v.1)).collect())
}

/// The run of `folder` beside Zen 4's: its f32 losses the same to the last bit, the first step
/// whose bf16 training losses differ by more than 0.001, and the bf16 run's last validation loss
/// above the f32 run's.
fn beside_zen4(folder: &str) -> (Option<usize>, f32) {
    let (f32_here, f32_zen4) = (seed_1337(folder, "f32"), seed_1337("ch08-seeds", "f32"));
    let ((train_here, val_here), (train_zen4, val_zen4)) = (losses(&f32_here), losses(&f32_zen4));
    assert_eq!(train_here, train_zen4, "f32: the training losses differ");
    assert_eq!(val_here, val_zen4, "f32: the validation losses differ");
    let (bf16_here, bf16_zen4) = (seed_1337(folder, "bf16"), seed_1337("ch08-seeds", "bf16"));
    let parted = (losses(&bf16_here).0.iter())
        .zip(losses(&bf16_zen4).0)
        .find(|(a, b)| (a.1 - b.1).abs() > 0.001)
        .map(|(a, _)| a.0);
    let last = |log: &chapter06::run_log::RunLog| log.val.last().unwrap().1;
    (parted, last(&bf16_here) - last(&f32_here))
}

/// Seed 1337's run in `folder` reaches a validation loss of 4.94 at `step`, after `minutes` (as
/// chapter 8 says), and sooner than on Zen 4.
fn reaches_4_94(folder: &str, precision: &str, step: usize, minutes: f64) {
    let (reached, seconds) =
        chapter08::seeds::time_to(&seed_1337(folder, precision), 4.94).unwrap();
    assert_eq!(reached, step, "{folder} {precision}");
    assert!(
        (seconds / 60.0 - minutes).abs() < 0.05,
        "{folder} {precision}: {seconds} s"
    );
    let zen4 = seed_1337("ch08-seeds", precision);
    let (_, there) = chapter08::seeds::time_to(&zen4, 4.94).unwrap();
    assert!(
        seconds < there,
        "{folder} {precision}: {seconds} s against {there} s"
    );
}

#[test]
fn on_amx_the_f32_run_loses_the_same_and_the_bf16_run_parts_at_step_74() {
    // bf16: AMX sums each product in another order than vdpbf16ps.
    let (parted, gap) = beside_zen4("xeon-amx");
    assert_eq!(parted, Some(74));
    assert!((gap - 0.010).abs() < 0.0005, "the gap is {gap}");
    reaches_4_94("xeon-amx", "bf16", 799, 2.0);
    reaches_4_94("xeon-amx", "f32", 799, 2.7);
}

#[test]
fn on_zen5_the_f32_run_loses_as_on_zen4_and_both_reach_4_94_sooner() {
    // bf16: the Zen 4 log is older than the LM head's backward pass in slices, which sums dlnf
    // in another order; the first update already differs.
    let (parted, gap) = beside_zen4("zen5");
    assert_eq!(parted, Some(65));
    let (zen5, zen4) = (
        losses(&seed_1337("zen5", "bf16")).0,
        losses(&seed_1337("ch08-seeds", "bf16")).0,
    );
    assert_eq!(zen5[0], zen4[0], "bf16: the loss before any update differs");
    assert_ne!(zen5[1], zen4[1]);
    assert!((gap - 0.023).abs() < 0.0005, "the gap is {gap}");
    reaches_4_94("zen5", "bf16", 899, 1.7);
    reaches_4_94("zen5", "f32", 799, 2.4);
}
