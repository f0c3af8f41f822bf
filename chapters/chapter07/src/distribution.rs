//! The distribution the next token is drawn from, and what temperature, top-k and top-p do to it.
