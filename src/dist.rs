//! Data-parallel training: several processes (ranks) train one model together.
//!
//! Every rank holds the whole model and takes its share of each step's micro-batches. After the
//! backward passes the ranks add up their gradients (an all-reduce), so each one takes the same
//! AdamW step from the same numbers and the copies stay equal. Built with `--features mpi` and
//! started by `mpirun -np N gpt2 train …`, the ranks are MPI processes; otherwise there is one
//! rank and nothing is exchanged.
//!
//! ```text
//! step s, N = 2 ranks, K = 1:   micro-batches of the step   0    1
//!                               rank 0 forward/backward     0
//!                               rank 1 forward/backward          1
//!                               all-reduce                  g = (g0 + g1) / 2 on both ranks
//!                               AdamW                       the same update on both ranks
//! ```

use std::sync::Arc;

use thiserror::Error;

use crate::layers::Params;

#[derive(Debug, Error)]
pub enum DistError {
    #[error(
        "this gpt2 was built without MPI but runs under mpirun: rebuild it with `cargo build --release --features mpi`"
    )]
    NoMpi,
    #[error("MPI could not be initialised (is this mpirun's MPI, the one gpt2 was built with?)")]
    Init,
    #[error(
        "the ranks' weights differ after step {step} (hashes {low:016x} … {high:016x}): the ranks no longer train one model"
    )]
    Diverged { step: usize, low: u64, high: u64 },
}

/// What the ranks of a run exchange. Every rank calls the same methods in the same order.
pub trait Collective: Send + Sync {
    /// This process's number, from 0.
    fn rank(&self) -> usize;
    /// How many ranks there are.
    fn size(&self) -> usize;
    /// Replaces `values`, on every rank, by their sum over all ranks.
    fn sum(&self, values: &mut [f32]);
    /// The largest of the ranks' `value`s.
    fn max(&self, value: u64) -> u64;
    /// The smallest of the ranks' `value`s.
    fn min(&self, value: u64) -> u64;
    /// Waits until every rank has called it.
    fn barrier(&self);
    /// Ends every rank of the run at once, with exit code `code`.
    fn abort(&self, code: i32) -> !;
}

/// One process alone: every collective is the identity.
pub struct Solo;

impl Collective for Solo {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn sum(&self, _: &mut [f32]) {}
    fn max(&self, value: u64) -> u64 {
        value
    }
    fn min(&self, value: u64) -> u64 {
        value
    }
    fn barrier(&self) {}
    fn abort(&self, code: i32) -> ! {
        std::process::exit(code)
    }
}

/// Gradients are summed in buckets of at most this many numbers (16 MiB), each one message, so
/// that small tensors share a message and the memory beside the model stays small.
pub const BUCKET: usize = 1 << 22;

/// The ranks of this run, shared by everything that talks to them.
#[derive(Clone)]
pub struct World(Arc<dyn Collective>);

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "World(rank {} of {})", self.rank(), self.size())
    }
}

impl Default for World {
    fn default() -> World {
        World::solo()
    }
}

impl World {
    /// One process, training alone.
    pub fn solo() -> World {
        World(Arc::new(Solo))
    }

    pub fn new(collective: impl Collective + 'static) -> World {
        World(Arc::new(collective))
    }

    /// MPI's ranks when this process was started by `mpirun` (or `srun`), else one process.
    pub fn from_env() -> Result<World, DistError> {
        if !under_mpi() {
            return Ok(World::solo());
        }
        #[cfg(feature = "mpi")]
        {
            Ok(World::new(mpi_world::Mpi::init()?))
        }
        #[cfg(not(feature = "mpi"))]
        {
            Err(DistError::NoMpi)
        }
    }

    pub fn rank(&self) -> usize {
        self.0.rank()
    }

    pub fn size(&self) -> usize {
        self.0.size()
    }

    /// Rank 0 writes the log, the checkpoints and the progress.
    pub fn is_leader(&self) -> bool {
        self.rank() == 0
    }

    pub fn collective(&self) -> &dyn Collective {
        &*self.0
    }

    // ANCHOR: all_reduce
    /// Replaces every gradient of `model` by its sum over the ranks, in buckets of about
    /// [`BUCKET`] numbers taken in the order the parameters are visited.
    pub fn sum_gradients<M: Params>(&self, model: &mut M) {
        self.sum_gradients_in(model, BUCKET)
    }

    /// [`World::sum_gradients`] with buckets of at most `size` numbers.
    pub fn sum_gradients_in<M: Params>(&self, model: &mut M, size: usize) {
        if self.size() == 1 {
            return;
        }
        let mut sizes = Vec::new();
        model.visit("", &mut |_, _, _, g| sizes.push(g.len()));
        let mut bucket = Vec::new();
        for range in buckets(&sizes, size) {
            bucket.clear();
            let mut i = 0;
            model.visit("", &mut |_, _, _, g| {
                if range.contains(&i) {
                    bucket.extend_from_slice(g);
                }
                i += 1;
            });
            self.0.sum(&mut bucket);
            let (mut i, mut at) = (0, 0);
            model.visit("", &mut |_, _, _, g| {
                if range.contains(&i) {
                    g.copy_from_slice(&bucket[at..at + g.len()]);
                    at += g.len();
                }
                i += 1;
            });
        }
    }
    // ANCHOR_END: all_reduce

    /// The sum of every rank's `value`.
    pub fn sum_one(&self, value: f32) -> f32 {
        let mut v = [value];
        self.0.sum(&mut v);
        v[0]
    }

    /// The largest of the ranks' values: a stop signal seen by any rank stops them all.
    pub fn max(&self, value: u64) -> u64 {
        self.0.max(value)
    }

    /// Checks that every rank holds the same weights, bit for bit, after step `step`.
    pub fn check_same_weights<M: Params>(
        &self,
        model: &mut M,
        step: usize,
    ) -> Result<(), DistError> {
        if self.size() == 1 {
            return Ok(());
        }
        let hash = weights_hash(model);
        let (low, high) = (self.0.min(hash), self.0.max(hash));
        if low != high {
            return Err(DistError::Diverged { step, low, high });
        }
        Ok(())
    }

    pub fn barrier(&self) {
        self.0.barrier()
    }

    pub fn abort(&self, code: i32) -> ! {
        self.0.abort(code)
    }
}

/// Tensors of `sizes` numbers, in order, grouped into buckets of at most `size` numbers (a
/// tensor larger than that alone): the ranges of tensor indices that travel together.
pub fn buckets(sizes: &[usize], size: usize) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut first = 0;
    while first < sizes.len() {
        let (mut end, mut len) = (first, 0);
        while end < sizes.len() && (end == first || len + sizes[end] <= size) {
            len += sizes[end];
            end += 1;
        }
        out.push(first..end);
        first = end;
    }
    out
}

/// A hash of every weight's bits, in visiting order.
pub fn weights_hash<M: Params>(model: &mut M) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    model.visit("", &mut |_, _, value, _| {
        for v in value.iter() {
            h = (h ^ v.to_bits() as u64).wrapping_mul(0x0000_0100_0000_01b3);
        }
    });
    h
}

/// Was this process started by an MPI launcher? (Open MPI, MPICH's Hydra, PMIx and Slurm each
/// set one of these.)
pub fn under_mpi() -> bool {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"]
        .iter()
        .any(|v| std::env::var_os(v).is_some())
}

#[cfg(feature = "mpi")]
mod mpi_world {
    use mpi::collective::{CommunicatorCollectives, SystemOperation};
    use mpi::environment::Universe;
    use mpi::topology::{Communicator, SimpleCommunicator};

    use super::{Collective, DistError};

    /// MPI's world. Only the thread that initialised MPI calls it (the training loop's); the
    /// communicator is looked up per call, so this holds nothing but the universe, which ends
    /// MPI when it is dropped.
    pub struct Mpi {
        _universe: Universe,
        rank: usize,
        size: usize,
    }

    impl Mpi {
        pub fn init() -> Result<Mpi, DistError> {
            let (universe, _) =
                mpi::initialize_with_threading(mpi::Threading::Funneled).ok_or(DistError::Init)?;
            let world = universe.world();
            let (rank, size) = (world.rank() as usize, world.size() as usize);
            Ok(Mpi {
                _universe: universe,
                rank,
                size,
            })
        }
    }

    fn world() -> SimpleCommunicator {
        SimpleCommunicator::world()
    }

    impl Collective for Mpi {
        fn rank(&self) -> usize {
            self.rank
        }
        fn size(&self) -> usize {
            self.size
        }
        fn sum(&self, values: &mut [f32]) {
            let send = values.to_vec();
            world().all_reduce_into(&send[..], values, SystemOperation::sum());
        }
        fn max(&self, value: u64) -> u64 {
            let mut out = 0u64;
            world().all_reduce_into(&value, &mut out, SystemOperation::max());
            out
        }
        fn min(&self, value: u64) -> u64 {
            let mut out = 0u64;
            world().all_reduce_into(&value, &mut out, SystemOperation::min());
            out
        }
        fn barrier(&self) {
            world().barrier()
        }
        fn abort(&self, code: i32) -> ! {
            world().abort(code)
        }
    }

    /// Ranks on this machine (to share its cores among them).
    pub fn local_size() -> usize {
        world().split_shared(0).size() as usize
    }
}

/// How many ranks run on this machine (1 without MPI).
pub fn local_ranks(world: &World) -> usize {
    if world.size() == 1 {
        return 1;
    }
    #[cfg(feature = "mpi")]
    {
        mpi_world::local_size()
    }
    #[cfg(not(feature = "mpi"))]
    {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GPT;
    use crate::config::GPTConfig;

    /// Two ranks whose other rank always holds `other` (a stand-in for MPI).
    struct Pair {
        other: u64,
        other_grad: f32,
    }

    impl Collective for Pair {
        fn rank(&self) -> usize {
            0
        }
        fn size(&self) -> usize {
            2
        }
        fn sum(&self, values: &mut [f32]) {
            values.iter_mut().for_each(|v| *v += self.other_grad);
        }
        fn max(&self, value: u64) -> u64 {
            value.max(self.other)
        }
        fn min(&self, value: u64) -> u64 {
            value.min(self.other)
        }
        fn barrier(&self) {}
        fn abort(&self, _: i32) -> ! {
            panic!("aborted")
        }
    }

    #[test]
    fn weights_that_differ_by_one_bit_are_caught() {
        let mut model = GPT::new(GPTConfig::preset("nano").unwrap(), 1);
        let hash = weights_hash(&mut model);
        let same = World::new(Pair {
            other: hash,
            other_grad: 0.0,
        });
        same.check_same_weights(&mut model, 3).unwrap();
        let mut flipped = GPT::new(GPTConfig::preset("nano").unwrap(), 1);
        flipped.visit("", &mut |name, _, value, _| {
            if name == "h.1.mlp.c_proj.weight" {
                value[7] = f32::from_bits(value[7].to_bits() ^ 1);
            }
        });
        let other = World::new(Pair {
            other: weights_hash(&mut flipped),
            other_grad: 0.0,
        });
        let err = other.check_same_weights(&mut model, 3).unwrap_err();
        assert!(matches!(err, DistError::Diverged { step: 3, .. }), "{err}");
    }

    #[test]
    fn buckets_fill_in_order_and_a_large_tensor_goes_alone() {
        assert_eq!(
            buckets(&[3, 4, 2, 9, 1, 1], 8),
            vec![0..2, 2..3, 3..4, 4..6]
        );
        assert!(buckets(&[], 8).is_empty());
    }

    #[test]
    fn every_gradient_is_summed_once_whatever_the_buckets() {
        // nano's tensors and buckets: every gradient number must come back plus the other rank's.
        let mut model = GPT::new(GPTConfig::preset("nano").unwrap(), 1);
        let mut k = 0.0f32;
        model.visit("", &mut |_, _, _, g| {
            g.iter_mut().for_each(|g| {
                *g = k;
                k += 1.0;
            })
        });
        World::new(Pair {
            other: 0,
            other_grad: 0.5,
        })
        .sum_gradients_in(&mut model, 3000);
        let mut k = 0.0f32;
        model.visit("", &mut |_, _, _, g| {
            for g in g.iter() {
                assert_eq!(*g, k + 0.5);
                k += 1.0;
            }
        });
    }
}
