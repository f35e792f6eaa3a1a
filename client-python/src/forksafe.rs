//! Values that must never be dropped in a forked child.
//!
//! After `fork()` the child has a copy of the parent's memory but none of its threads: a tokio
//! runtime's workers, the gRPC connection's tasks and the arena's release ring all belong to
//! the parent. Dropping them in the child would wait for threads that do not exist, or push
//! releases into the parent's ring (the control region is a shared mapping). [`ForkSafe`]
//! remembers the process that made its value and, when dropped in any other, forgets it.

/// A value dropped normally in the process that created it and leaked in any other.
#[derive(Debug)]
pub struct ForkSafe<T> {
    pid: u32,
    value: Option<T>,
}

impl<T> ForkSafe<T> {
    pub fn new(value: T) -> Self {
        ForkSafe {
            pid: std::process::id(),
            value: Some(value),
        }
    }

    /// Whether this process created the value.
    pub fn is_own(&self) -> bool {
        self.pid == std::process::id()
    }

    /// The process that created the value.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn get(&self) -> &T {
        self.value.as_ref().expect("value present until drop")
    }

    pub fn get_mut(&mut self) -> &mut T {
        self.value.as_mut().expect("value present until drop")
    }
}

impl<T> Drop for ForkSafe<T> {
    fn drop(&mut self) {
        if !self.is_own() {
            std::mem::forget(self.value.take());
        }
    }
}
