"""study-report: training runs read into one table of accuracy against CPU time."""

import json

from training.__main__ import main as training_main
from training.study_report import collect, markdown, read_run


def make_run(folder, init, walls, accuracies, cpu=None, heldout=None, train_views=96):
    folder.mkdir(parents=True)
    (folder / 'config.json').write_text(json.dumps({
        'data': 'data/x', 'network': 'mtgcnn', 'aux': 'depth', 'input_size': 224,
        'batch_size': 8, 'batches_per_epoch': None, 'init': init}))
    rows = ['epoch,val_accuracy,train_seconds']
    rows += [f'{i + 1},{a},{w}' for i, (w, a) in enumerate(zip(walls, accuracies))]
    (folder / 'log.csv').write_text('\n'.join(rows) + '\n')
    (folder / 'train.log').write_text(
        f'... fold 0: {train_views} train / 12 val images, 50 steps of 8 per epoch on cpu\n')
    if cpu is not None:
        (folder / 'time.txt').write_text(f'{cpu[0]} {cpu[1]} 999.0\n')
    if heldout is not None:
        (folder / 'heldout.json').write_text(json.dumps({
            'accuracy': heldout, 'n_images': 76, 'opening': {'median_ratio': 1.25},
            'background': {'share': 0.05}}))
    return folder


def test_cpu_time_is_shared_over_the_epochs_by_their_wall_time(tmp_path):
    make_run(tmp_path / 'a', 'runs/x/init.pt', [100.0, 300.0], [0.4, 0.5], cpu=(700.0, 100.0),
             heldout=0.55)
    run = read_run(tmp_path / 'a')
    assert run.init == 'init.pt' and run.train_views == 96
    assert run.cpu_s == 800.0
    assert run.epoch_cpu_s == [200.0, 800.0]      # 1:3 as the epochs' wall seconds
    assert run.best_val == 0.5
    assert run.heldout['accuracy'] == 0.55 and run.heldout['opening_ratio'] == 1.25


def test_without_time_file_the_wall_time_counts_and_a_missing_heldout_is_blank(tmp_path):
    make_run(tmp_path / 'b', None, [60.0, 60.0], [0.1, 0.3])
    run = read_run(tmp_path / 'b')
    assert run.init == 'random' and run.cpu_s == 120.0 and run.heldout is None
    line = markdown([run]).splitlines()[-1]
    assert line == ('| b | random | mtgcnn (depth) | 224 | 96 | 2 x all | 2.0 | 30.0% |  |  |  |')


def test_command_prints_every_run_and_draws_the_plot(tmp_path, capsys):
    make_run(tmp_path / 'a', 'init.pt', [100.0], [0.4], heldout=0.5)
    make_run(tmp_path / 'b', None, [50.0], [0.2])
    (tmp_path / 'not_a_run').mkdir()
    assert collect(tmp_path)[0].name == 'a' and len(collect(tmp_path)) == 2
    assert training_main(['study-report', str(tmp_path), '--plot',
                          str(tmp_path / 'p.png')]) == 0
    out = capsys.readouterr().out
    assert '| a | init.pt |' in out and '| b | random |' in out
    assert (tmp_path / 'p.png').stat().st_size > 0


def test_a_folder_without_runs_is_a_clear_error(tmp_path, capsys):
    assert training_main(['study-report', str(tmp_path)]) == 2
    assert 'no run folders' in capsys.readouterr().out
