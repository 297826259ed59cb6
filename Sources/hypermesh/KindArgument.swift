import ArgumentParser
import HyperMeshCore

/// A kind as the user types it (`pool`, `pools`, `ResourcePool`, …), or `all`.
enum KindArgument: ExpressibleByArgument {
    case all
    case kind(Kind)
    /// `sync`: the agent's GitOps sources, not a kind of object.
    case sync
    /// `nodes`: the mesh's members, as the CA node sees them.
    case nodes
    /// `offers`: every pool offered on the mesh ledger, as this node's copy of it has them.
    case offers
    /// `allocations`: the claims of other nodes placed on this node's pools.
    case allocations
    /// `images`: this node's image store.
    case images

    init?(argument: String) {
        if argument.lowercased() == "all" {
            self = .all
        } else if ["sync", "syncs"].contains(argument.lowercased()) {
            self = .sync
        } else if ["node", "nodes"].contains(argument.lowercased()) {
            self = .nodes
        } else if ["offer", "offers"].contains(argument.lowercased()) {
            self = .offers
        } else if ["allocation", "allocations"].contains(argument.lowercased()) {
            self = .allocations
        } else if ["image", "images"].contains(argument.lowercased()) {
            self = .images
        } else if let kind = Kind(userInput: argument) {
            self = .kind(kind)
        } else {
            return nil
        }
    }

    static var allValueStrings: [String] { ["all"] + Kind.allCases.map(\.shortName) + ["sync", "nodes", "offers", "allocations", "images"] }

    var kinds: [Kind] {
        switch self {
        case .all: return Kind.dependencyOrder
        case .kind(let kind): return [kind]
        case .sync, .nodes, .offers, .allocations, .images: return []
        }
    }
}

extension KindArgument {
    static let help = ArgumentHelp(
        "A kind: pool, claim, workload, mirror, cert, mesh (any case, plural or full name), or all; also sync, nodes, offers, allocations and images.", valueName: "KIND")
}
