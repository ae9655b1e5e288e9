using GenerateCT.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace GenerateCT.Node.Federation;

/// <summary>The node's part in a federation: section "Node:Federation" (validated at start) and the client.</summary>
internal static class FederationRegistration
{
    public static IServiceCollection AddNodeFederation(this IServiceCollection services)
    {
        services.AddValidatedOptions<FederationOptions>(FederationOptions.Section, o => o.Validate());
        services.AddSingleton<RoundParticipation>();
        services.AddHostedSingleton<FederationClient>();
        return services;
    }
}
