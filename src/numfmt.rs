//! Numbers for people: digit grouping and short forms.

/// 124439808 -> "124,439,808".
pub fn group_digits(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// 124439808 -> "124.4M", 1557611200 -> "1.56B".
pub fn short(n: u64) -> String {
    let x = n as f64;
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1}K", x / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1}M", x / 1e6),
        _ => format!("{:.2}B", x / 1e9),
    }
}

/// 1, "step" -> "1 step"; 3, "step" -> "3 steps".
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_singular_for_one_only() {
        assert_eq!(count(1, "step"), "1 step");
        assert_eq!(count(0, "window"), "0 windows");
        assert_eq!(count(1000, "step"), "1000 steps");
    }

    #[test]
    fn groups() {
        assert_eq!(group_digits(0), "0");
        assert_eq!(group_digits(999), "999");
        assert_eq!(group_digits(1000), "1,000");
        assert_eq!(group_digits(124_439_808), "124,439,808");
        assert_eq!(short(124_439_808), "124.4M");
        assert_eq!(short(1_557_611_200), "1.56B");
    }
}
