"""Realistic ~2 KB documents the clean stage must keep, shared by the tests."""

ENGLISH = """\
The river that runs through the old market town has shaped the lives of the people along its banks for centuries. In early spring, when the snow melts in the hills, the water rises quickly and farmers move their sheep to higher pastures before the meadows flood.

Local historians have gathered letters, parish records and diaries that describe the great flood of 1887. The stone bridge was swept away during a single night, the mill lost its wheel, and several families spent the rest of the year living with relatives in neighbouring villages. A small museum near the church now displays some of those letters, together with photographs of the damage.

After the disaster, the town council hired an engineer from the city to design a system of embankments and sluice gates. Construction took almost nine years, partly because money ran out twice and partly because the workers had to stop every winter. When the work was finally finished, the council held a festival on the new riverside path, and the tradition has continued ever since.

Today the river is quieter, but it still plays an important role in local life. Anglers arrive early on summer mornings, children learn to swim in a shallow pool below the weir, and a volunteer group checks the water quality every month. Their reports show that the number of trout has grown steadily since the old tannery closed.

Visitors who want to understand the history of the valley are encouraged to walk the six-mile trail that follows the water from the reservoir to the market square. Along the way, information boards explain how the landscape has changed, which plants grow on the banks, and why the meadows are still allowed to flood in wet years.

The walk takes about three hours at an easy pace. There is a café at the halfway point, and the last bus back to the reservoir leaves the square shortly after six o'clock.
"""

CHINESE = """\
这条穿过老城的河流，几百年来一直影响着两岸居民的生活。每到春天，山上的积雪开始融化，河水很快就会上涨，农民们不得不把牛羊赶到地势更高的草场上去。

当地的历史学者收集了许多信件、教区档案和日记，其中详细记录了一八八七年的那场大洪水。石桥在一夜之间被冲垮，磨坊的水车也不见了，好几户人家只好在邻村的亲戚家里住了整整一年。如今，教堂旁边的小博物馆里还陈列着当年的一些信件，以及记录灾后景象的老照片。

灾难过后，镇议会从城里请来一位工程师，设计了一套堤坝和水闸系统。工程前后花了将近九年，一方面是因为经费两次中断，另一方面是因为工人们每到冬天都必须停工。工程终于完工的那一天，议会在新修的河滨步道上举办了庆祝活动，这个传统一直延续到了今天。

现在的河流安静了许多，但它在当地人的生活中依然非常重要。夏天的清晨，钓鱼的人早早来到岸边；孩子们在拦河坝下面的浅水池里学游泳；一个志愿者小组每个月都会检测一次水质。他们的报告显示，自从老制革厂关闭以后，河里的鳟鱼数量一直在稳步增加。

想要了解这片山谷历史的游客，可以沿着河边那条将近十公里的步道，从水库一路走到集市广场。沿途的说明牌介绍了地貌的变化、河岸上生长的植物，也解释了为什么在多雨的年份里，人们仍然允许那片草地被河水淹没。

按照正常的速度，走完全程大约需要三个小时。步道中途有一家小咖啡馆，可以坐下来休息；返回水库的最后一班公交车在傍晚六点多从广场发车，错过了就只能打车回去。
"""
