import Foundation
import ServiceLifecycle

/// Runs blocking work (a server loop, a loop of blocking calls) on a thread of its own, so the agent's
/// cooperative threads stay free; `stop` is called on graceful shutdown or cancellation, and this returns
/// when `run` has returned.
func runBlocking(named name: String, _ run: @escaping @Sendable () -> Void, stop: @escaping @Sendable () -> Void) async {
    await withGracefulShutdownHandler {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let thread = Thread {
                    run()
                    continuation.resume()
                }
                thread.name = name
                thread.start()
            }
        } onCancel: {
            stop()
        }
    } onGracefulShutdown: {
        stop()
    }
}
