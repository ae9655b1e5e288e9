using GenerateCT.Hosting;
using GenerateCT.Node.Federation;
using Microsoft.Extensions.DependencyInjection;

namespace GenerateCT.Node.Jobs;

/// <summary>Researchers' generation jobs: the models, the job table, the output tree, the worker.</summary>
internal static class GenerationRegistration
{
    /// <summary>Section "Node:Generation" (validated with <see cref="NodeOptions"/>) and the generation services.</summary>
    public static IServiceCollection AddNodeGeneration(this IServiceCollection services)
    {
        services.AddOptions<GenerationOptions>().BindConfiguration(GenerationOptions.Section);
        services.AddSingleton<GlobalVersions>();
        services.AddSingleton<GenerationModels>();
        services.AddSingleton<GenerationJobStore>();
        services.AddSingleton<JobOutputFiles>();
        services.AddSingleton<JobProgressHub>();
        services.AddHostedSingleton<GenerationWorker>();
        return services;
    }
}
