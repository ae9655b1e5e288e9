using Grpc.Core.Interceptors;

namespace GenerateCT.Node.Federation;

/// <summary>
/// An interceptor on every call the federation client makes to the coordinator (registered in the node's
/// services, outermost first). A running node registers none; the proof that only weights leave the node
/// registers one that records each request message as it is sent.
/// </summary>
internal abstract class CoordinatorInterceptor : Interceptor;
