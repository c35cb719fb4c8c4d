/// One element of a chain as built, before the chain is folded: its value and its place in
/// pipeline.json.
public struct ChainElement: Sendable {
    public var value: any Middleware
    public let pointer: JSONPointer

    public init(_ value: any Middleware, at pointer: JSONPointer) {
        self.value = value
        self.pointer = pointer
    }
}

/// What a chain rule may know about the stack whose chain (or a chain nested in it) is built.
public struct StackBuild: Sendable {
    /// The stack's name ("" for a chain built outside any stack).
    public let name: String
    /// The stack's `anonymous` paths as configured.
    public let anonymous: PathPatterns
    /// Every middleware built for this stack so far, nested chains included (a named middleware
    /// once for each stack that uses it).
    public let members: [any Middleware]
}

/// A rewrite the engine runs over every chain it builds, after its elements are built and before
/// it is folded, in registration order (`TypeRegistry.chainRules`). The engine knows nothing of
/// what a rule does: auth composition is one (`AuthGate.composition`: adjacent authenticators
/// become one gate, with the anonymous paths the stack and its members declare).
///
/// ```swift
/// let rule = ChainRule(name: "tag") { elements, stack, context in elements }
/// let registry = TypeRegistry(middlewares: types, sources: [], chainRules: ChainRule.standard + [rule])
/// ```
public struct ChainRule: Sendable {
    public let name: String
    public let apply: @Sendable (_ elements: [ChainElement], _ stack: StackBuild, _ context: BuildContext) -> [ChainElement]

    public init(name: String, apply: @escaping @Sendable ([ChainElement], StackBuild, BuildContext) -> [ChainElement]) {
        self.name = name
        self.apply = apply
    }

    /// The rules every registry has unless it says otherwise.
    public static var standard: [ChainRule] { [AuthGate.composition] }
}
