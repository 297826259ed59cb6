/// The application end of one QUIC stream: what to do with its bytes and when to produce more.
///
/// Called on the endpoint's loop thread, never from inside an ngtcp2 call that forbids re-entry.
protocol StreamHandler: AnyObject {
    /// Bytes arrived in order; `finished` when the peer ended its side of the stream.
    func stream(_ stream: QUICStream, received bytes: UnsafeRawBufferPointer, finished: Bool)
    /// The stream's unsent bytes fell below ``QUICStream/lowWaterBytes``: queue more, or ``QUICStream/finish()``.
    func streamWantsOutput(_ stream: QUICStream)
    /// The stream is gone: `errorCode` is `nil` when both sides ended it cleanly.
    func streamClosed(_ stream: QUICStream, errorCode: UInt64?)
}

extension StreamHandler {
    func streamWantsOutput(_ stream: QUICStream) {}
}
