using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GenerateCT.Model.CtVit;

/// <summary>
/// torchvision VGG16 (Simonyan &amp; Zisserman 2015, configuration D) as CT-ViT keeps it for its perceptual
/// loss: <c>features</c> (13 3×3 convolutions with ReLU, 5 max-pools), adaptive average pool to 7×7, and
/// <c>classifier[:-2]</c> = Linear(25088, 4096), ReLU, Dropout, Linear(4096, 4096), ReLU, so the output is
/// a 4096-wide feature. Indices match torchvision's so ImageNet weights load by name.
/// </summary>
internal sealed class Vgg16 : nn.Module<Tensor, Tensor>
{
    private static readonly int[] Layout = [64, 64, -1, 128, 128, -1, 256, 256, 256, -1, 512, 512, 512, -1, 512, 512, 512, -1];

    private readonly Sequential features;
    private readonly AdaptiveAvgPool2d avgpool;
    private readonly Sequential classifier;

    public Vgg16() : base(nameof(Vgg16))
    {
        var layers = new List<(string, nn.Module<Tensor, Tensor>)>();
        long inChannels = 3;
        foreach (var width in Layout)
        {
            if (width < 0)
            {
                layers.Add((layers.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), nn.MaxPool2d(2, 2)));
                continue;
            }

            layers.Add((layers.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), nn.Conv2d(inChannels, width, 3, padding: 1)));
            layers.Add((layers.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), nn.ReLU(inplace: true)));
            inChannels = width;
        }

        features = nn.Sequential(layers);
        avgpool = nn.AdaptiveAvgPool2d([7, 7]);
        classifier = nn.Sequential(
            ("0", nn.Linear(512 * 7 * 7, 4096)),
            ("1", nn.ReLU(inplace: true)),
            ("2", nn.Dropout()),
            ("3", nn.Linear(4096, 4096)),
            ("4", nn.ReLU(inplace: true)));
        RegisterComponents();
    }

    /// <summary>(b, 3, H, W) → (b, 4096).</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = avgpool.forward(features.forward(x)).flatten(1);
        return classifier.forward(y).MoveToOuterDisposeScope();
    }
}
