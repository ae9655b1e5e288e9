using GenerateCT.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace GenerateCT.Model.Tests;

public class TorchRuntimeTests
{
    [Fact]
    public void Native_library_loads_and_matmul_gives_the_known_product()
    {
        using var scope = NewDisposeScope();
        var a = tensor(new float[] { 1, 2, 3, 4 }, 2, 2);
        var b = tensor(new float[] { 5, 6, 7, 8 }, 2, 2);
        var c = a.matmul(b);
        Assert.Equal(new float[] { 19, 22, 43, 50 }, c.data<float>().ToArray());
        Assert.Equal(DeviceType.CPU, TorchDevice.Select("cpu").type);
    }

    [Fact]
    public void Backward_pass_gives_analytic_gradients()
    {
        using var scope = NewDisposeScope();
        // y = sum((W x)^2) → dy/dW = 2 (W x) xᵀ
        var w = tensor(new float[] { 1, -2, 0.5f, 3 }, 2, 2).requires_grad_(true);
        var x = tensor(new float[] { 2, -1 }, 2, 1);
        var y = w.matmul(x).pow(2).sum();
        y.backward();
        var wx = new float[] { 1 * 2 + -2 * -1, 0.5f * 2 + 3 * -1 }; // [4, -2]
        var expected = new float[] { 2 * wx[0] * 2, 2 * wx[0] * -1, 2 * wx[1] * 2, 2 * wx[1] * -1 };
        Assert.Equal(expected, w.grad!.data<float>().ToArray());
        Assert.Equal(4 * 4 + 2 * 2, y.item<float>());
    }

    [Fact]
    public void A_linear_layer_learns_with_adam()
    {
        using var scope = NewDisposeScope();
        torch.manual_seed(1);
        var layer = nn.Linear(3, 1);
        var opt = optim.Adam(layer.parameters(), lr: 0.05);
        var x = randn(64, 3);
        var target = x.matmul(tensor(new float[] { 1.5f, -2f, 0.5f }, 3, 1)) + 0.25f;
        float first = 0, last = 0;
        for (int i = 0; i < 300; i++)
        {
            opt.zero_grad();
            var loss = nn.functional.mse_loss(layer.forward(x), target);
            loss.backward();
            opt.step();
            if (i == 0) first = loss.item<float>();
            last = loss.item<float>();
        }

        Assert.True(last < first * 0.01, $"loss went from {first} to {last}");
    }
}
