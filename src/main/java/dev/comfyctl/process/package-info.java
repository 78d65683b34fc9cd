/**
 * Processes on Linux: starting ComfyUI in its own session with its output in a session log
 * ({@link dev.comfyctl.process.ProcessLauncher}), stopping it with everything it started
 * ({@link dev.comfyctl.process.ProcessTree}), finding ComfyUI processes nobody supervises
 * ({@link dev.comfyctl.process.StrayProcesses}) and who holds a port ({@link dev.comfyctl.process.PortOwner}),
 * and the session log directory ({@link dev.comfyctl.process.SessionLogs},
 * {@link dev.comfyctl.process.LogFollower}).
 *
 * <p>Relies on {@code /proc} and Linux signal semantics; depends on no other comfyctl package.
 */
package dev.comfyctl.process;
