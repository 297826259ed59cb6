/// Numbers STOQ uses unless told otherwise.
public enum STOQDefaults {
    /// The UDP port agents listen on.
    public static let port: UInt16 = 9292
    /// The mesh protocol's ALPN identifier.
    public static let meshALPN = "stoq/1"
    /// HTTP/0.9 over QUIC, as the QUIC interop runner speaks it.
    public static let interopALPN = "hq-interop"
    /// Joining a mesh: the only protocol a client without a certificate may speak, and on it only PING and
    /// CALL (the server's application decides what an anonymous call may do).
    public static let joinALPN = "hm-join/1"
}
