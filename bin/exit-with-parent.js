// Preloaded (`node -r`) into the long-lived processes that `gpumesh start` spawns, such as its Hardhat node: the
// process exits as soon as its parent is gone, whatever ended the parent. The parent holds the other end of an IPC
// channel; the kernel closes it when the parent dies, even by SIGKILL, which no signal handler of the parent sees.
// (Linux's PR_SET_PDEATHSIG would do the same but is not reachable from Node without native code.)
"use strict";
if (process.channel) {
  // The channel alone must not keep this process alive, nor carry messages meant for the program it runs.
  process.channel.unref();
  process.once("disconnect", () => process.exit(0));
}
