"""No Rust backtraces for pysequoia's errors.

pysequoia reports every rejected message or key as a Rust error. With ``RUST_BACKTRACE``
set, as on many developer machines, each error also captures a backtrace: a rejected
message then costs about 4 ms instead of 0.2 ms, which a peer sending garbage could use
to slow a client down. Nothing here ever shows those backtraces, so library errors do not
take them (``RUST_LIB_BACKTRACE`` wins over ``RUST_BACKTRACE``; panics keep theirs).
Imported first by ``ironwall.e2e``, before anything can call into pysequoia.
"""

import os

os.environ.setdefault("RUST_LIB_BACKTRACE", "0")
