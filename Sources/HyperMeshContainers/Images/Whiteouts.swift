import Foundation
import HyperMeshCore

/// OCI layers mark deletions with `.wh.NAME` files and opaque directories with `.wh..wh..opq`; overlayfs wants a
/// 0/0 character device named `NAME` and the `trusted.overlay.opaque` attribute. Converting once, when the layer
/// is unpacked into the cache, lets the layer be a lower directory as it is.
enum Whiteouts {
    static let prefix = ".wh."
    static let opaqueMarker = ".wh..wh..opq"

    static func convert(in root: String) throws {
        guard let walker = FileManager.default.enumerator(atPath: root) else { return }
        var markers: [String] = []
        while let relative = walker.nextObject() as? String {
            if (relative as NSString).lastPathComponent.hasPrefix(self.prefix) { markers.append(relative) }
        }
        for relative in markers {
            let path = root + "/" + relative
            let directory = (path as NSString).deletingLastPathComponent
            let name = (relative as NSString).lastPathComponent
            guard unlink(path) == 0 else { throw HyperMeshError.io("cannot remove whiteout \(path): \(errnoText())") }
            if name == self.opaqueMarker {
                guard systemSetxattr(directory, "trusted.overlay.opaque", "y", 1, 0) == 0 else {
                    throw HyperMeshError.io("cannot mark \(directory) opaque: \(errnoText())")
                }
            } else {
                let hidden = directory + "/" + String(name.dropFirst(self.prefix.count))
                guard mknod(hidden, S_IFCHR | 0o000, 0) == 0 else {
                    throw HyperMeshError.io("cannot write the whiteout for \(hidden): \(errnoText())")
                }
            }
        }
    }
}

/// setxattr(2), which Glibc's module map leaves out (`sys/xattr.h`).
@_silgen_name("setxattr")
private func systemSetxattr(_ path: UnsafePointer<CChar>, _ name: UnsafePointer<CChar>, _ value: UnsafeRawPointer, _ size: Int,
                            _ flags: Int32) -> Int32
