using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GenerateCT.Model.SuperRes;

/// <summary>
/// Placeholder for the base stage of the released cascade (<c>unets.0</c>): GenerateCT's SR starts at
/// unet 2 from the CT-ViT output, so unet 1 is a NullUnet that only owns <c>dummy_parameter</c>.
/// </summary>
public sealed class NullUnet : nn.Module
{
#pragma warning disable IDE1006 // names mirror the reference state_dict keys
    private readonly Parameter dummy_parameter;
#pragma warning restore IDE1006

    public NullUnet() : base(nameof(NullUnet))
    {
        dummy_parameter = new Parameter(zeros(1));
        RegisterComponents();
    }
}

/// <summary>
/// The released <c>Superres</c> container: <c>unets = [NullUnet, SuperResUnet]</c>, so its state dict
/// (the <c>model</c> entry of superres_pretrained.pt) has <c>unets.0.dummy_parameter</c> and the Unet under
/// <c>unets.1.</c>. The diffusion itself lives in <see cref="SuperResDiffusion"/>.
/// </summary>
public sealed class Superres : nn.Module
{
    /// <summary>Prefix of the SR Unet's keys in the released checkpoint.</summary>
    public const string UnetKeyPrefix = "unets.1.";

    private readonly SuperResUnet _unet;

    public Superres(SuperResUnetConfig config) : base(nameof(Superres))
    {
        _unet = new SuperResUnet(config);
        register_module("unets", new ModuleList<nn.Module>(new NullUnet(), _unet));
    }

    public SuperResUnet Unet => _unet;

    // Registration is by hand; reflection over the C# fields would add the Unet a second time.
    protected override void RegisterComponents()
    {
    }
}
