using GenerateCT.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace GenerateCT.Node.Training;

/// <summary>The node's part in training: the training set, stage approvals, and the fine-tuning job queue.</summary>
internal static class TrainingRegistration
{
    /// <summary>Section "Node:Training" and the training services.</summary>
    public static IServiceCollection AddNodeTraining(this IServiceCollection services)
    {
        services.AddValidatedOptions<TrainingOptions>(TrainingOptions.Section, o => o.Validate());
        services.AddSingleton<TrainingSetReader>();
        services.AddSingleton<StageApprovals>();
        services.AddSingleton<TrainingJobStore>();
        services.AddSingleton<TrainingFiles>();
        services.AddSingleton<TrainingProgress>();
        services.AddSingleton<StageFineTuning>();
        services.AddHostedSingleton<TrainingWorker>();
        return services;
    }
}
